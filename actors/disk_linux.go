package actors

import "syscall"

// DiskUsage returns the size and the used bytes of the file system holding
// dir (0, 0 when it cannot be read).
func DiskUsage(dir string) (total, used int64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0
	}
	total = int64(st.Blocks) * int64(st.Bsize)
	return total, total - int64(st.Bfree)*int64(st.Bsize)
}
