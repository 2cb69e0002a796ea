package gateway_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestDescribeLogDirs: kadm describes the broker's data directory: each
// replica asked for with the size of its segment files on disk, the file
// system's total and usable bytes, and nothing for a topic not asked for.
func TestDescribeLogDirs(t *testing.T) {
	b := startBroker(t, "log.flush.scheduler.interval.ms=50")
	createTopic(t, b, "sized", 2, nil)
	createTopic(t, b, "other", 1, nil)
	c := b.raw(t)
	for i := range 50 {
		mustProduce(t, c, "sized", 1, fmt.Sprintf("%02d-%s", i, strings.Repeat("s", 200)))
	}
	onDisk := func(dir string) int64 {
		var n int64
		files, _ := filepath.Glob(filepath.Join(b.dataDir, dir, "*.log"))
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	adm := b.admin(t)
	var dirs kadm.DescribedLogDirs
	eventually(t, 10*time.Second, func() error {
		var err error
		dirs, err = adm.DescribeBrokerLogDirs(ctxFor(t, 5*time.Second), 1, kadm.TopicsSet{"sized": {0: {}, 1: {}}})
		if err != nil {
			return err
		}
		if len(dirs) != 1 {
			return errorf("%d log dirs, want 1", len(dirs))
		}
		for _, d := range dirs {
			p, ok := d.Topics.Lookup("sized", 1)
			if want := onDisk("sized-1"); !ok || p.Size != want || want < 50*200 {
				return errorf("sized-1: %+v, want size %d", p, want)
			}
			if p, ok := d.Topics.Lookup("sized", 0); !ok || p.Size != 0 {
				return errorf("sized-0: %+v, want an empty log", p)
			}
			if _, ok := d.Topics["other"]; ok {
				return errorf("topic other described, not asked for")
			}
			if abs, _ := filepath.Abs(b.dataDir); d.Dir != abs || d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
				return errorf("dir %q total %d usable %d", d.Dir, d.TotalBytes, d.UsableBytes)
			}
		}
		return nil
	})
}
