package storage

import (
	"errors"
	"fmt"
	"strings"
)

// Auxiliary files hold state the log's owner derives from the log and
// keeps beside it, such as the idempotent producer snapshot: rebuilding it
// from the batch headers on every open would cost a scan of the whole log.
// Their names end in auxSuffix so they never collide with segments,
// indexes or checkpoints, and recovery leaves them alone.

// auxSuffix ends every auxiliary file name.
const auxSuffix = ".snapshot"

// ErrAuxName: an auxiliary file name without the ".snapshot" suffix or
// with a path separator.
var ErrAuxName = errors.New("storage: invalid auxiliary file name")

func checkAuxName(name string) error {
	if !strings.HasSuffix(name, auxSuffix) || strings.ContainsAny(name, `/\`) || name == auxSuffix {
		return fmt.Errorf("%w: %q (want NAME%s)", ErrAuxName, name, auxSuffix)
	}
	return nil
}

// WriteAux atomically replaces the auxiliary file name in the log's
// directory: temp file, fsync, rename, fsync of the directory. A crash
// leaves either the old content or the new.
func (l *Log) WriteAux(name string, data []byte) error {
	if err := checkAuxName(name); err != nil {
		return err
	}
	if err := writeFileAtomic(l.fs, l.dir, name, data); err != nil {
		return storageErr("write "+name, err)
	}
	return nil
}

// ReadAux returns an auxiliary file's content; ok is false when it does
// not exist.
func (l *Log) ReadAux(name string) (data []byte, ok bool, err error) {
	if err := checkAuxName(name); err != nil {
		return nil, false, err
	}
	data, err = readFile(l.fs, join(l.dir, name))
	if isNotExist(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, storageErr("read "+name, err)
	}
	return data, true, nil
}

// RemoveAux removes an auxiliary file and fsyncs the directory, so that a
// power loss cannot bring it back; a missing one is not an error. The
// owner removes a file before the log changes under it (the producer
// snapshot before a truncation): a resurrected one would describe batches
// that are gone.
func (l *Log) RemoveAux(name string) error {
	if err := checkAuxName(name); err != nil {
		return err
	}
	err := l.fs.Remove(join(l.dir, name))
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return storageErr("remove "+name, err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return storageErr("sync dir after removing "+name, err)
	}
	return nil
}
