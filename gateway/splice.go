package gateway

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/storage"
)

// A fetch response carries record batches that already sit in segment
// files. Rather than copy them into the encoded response, the fetch
// handler puts a 16-byte marker where each partition's records go and
// keeps the region; the writer encodes the response with kmsg, finds the
// markers, fixes each length prefix, and sends the regions straight from
// the page cache with sendfile(2). The bytes on the wire are exactly what
// kmsg would have produced with the records inline.

// markerLen is the size of a records placeholder.
const markerLen = 16

// splicedResponse is a response whose record fields hold markers to be
// replaced by regions, in the order they appear in the encoding.
type splicedResponse struct {
	kmsg.Response
	markers [][markerLen]byte
	regions []storage.Region
}

// markerSource makes markers unique per connection: a random prefix and a
// counter, so no other bytes of a response can match one by accident.
type markerSource struct {
	prefix [8]byte
	n      uint64
}

func newMarkerSource() *markerSource {
	m := &markerSource{}
	_, _ = rand.Read(m.prefix[:])
	return m
}

func (m *markerSource) next() [markerLen]byte {
	var k [markerLen]byte
	copy(k[:8], m.prefix[:])
	m.n++
	binary.BigEndian.PutUint64(k[8:], m.n)
	return k
}

// wirePart is either bytes or a region of a response being written.
type wirePart struct {
	b      []byte
	region storage.Region
}

// splice encodes sr (after the 4-byte size, correlation id and optional
// header tag already in buf) and cuts it into parts. It returns the parts
// and the total frame length (without the size prefix).
func splice(buf []byte, sr *splicedResponse, flexible bool) ([]wirePart, int, error) {
	buf = sr.Response.AppendTo(buf)
	parts := make([]wirePart, 0, 2*len(sr.markers)+1)
	cursor, total := 4, 0
	for i, mk := range sr.markers {
		at := bytes.Index(buf[cursor:], mk[:])
		if at < 0 {
			return nil, 0, fmt.Errorf("gateway: fetch response marker %d not found", i)
		}
		at += cursor
		n := sr.regions[i].Len()
		var prefix []byte
		if flexible {
			// compact bytes: uvarint(len+1); the marker's is one byte (17).
			if at < cursor+1 || buf[at-1] != markerLen+1 {
				return nil, 0, errors.New("gateway: unexpected length prefix before a fetch marker")
			}
			prefix = binary.AppendUvarint(nil, uint64(n)+1)
			parts = append(parts, wirePart{b: buf[cursor : at-1]}, wirePart{b: prefix})
		} else {
			if at < cursor+4 || int32(binary.BigEndian.Uint32(buf[at-4:at])) != markerLen {
				return nil, 0, errors.New("gateway: unexpected length prefix before a fetch marker")
			}
			binary.BigEndian.PutUint32(buf[at-4:at], uint32(n))
			parts = append(parts, wirePart{b: buf[cursor:at]})
		}
		parts = append(parts, wirePart{region: sr.regions[i]})
		cursor = at + markerLen
	}
	parts = append(parts, wirePart{b: buf[cursor:]})
	for _, p := range parts {
		total += len(p.b) + p.region.Len()
	}
	binary.BigEndian.PutUint32(buf[:4], uint32(total))
	parts = append([]wirePart{{b: buf[:4]}}, parts...)
	return parts, total, nil
}

// writeParts writes a spliced response: bytes through bw, regions with
// sendfile when both ends allow it (else copied).
func writeParts(bw *bufio.Writer, nc net.Conn, parts []wirePart, scratch *[]byte) error {
	for _, p := range parts {
		if p.region.Len() == 0 {
			if _, err := bw.Write(p.b); err != nil {
				return err
			}
			continue
		}
		f, pos, ok := p.region.OSFile()
		if tc, isTCP := nc.(*net.TCPConn); ok && isTCP {
			if err := bw.Flush(); err != nil {
				return err
			}
			if err := sendfile(tc, f, pos, int64(p.region.Len())); err != nil {
				return err
			}
			continue
		}
		if cap(*scratch) < p.region.Len() {
			*scratch = make([]byte, p.region.Len())
		}
		b := (*scratch)[:p.region.Len()]
		if _, err := p.region.ReadAt(b, 0); err != nil {
			return err
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// sendfile copies n bytes of f from pos to the socket inside the kernel.
// It uses an explicit offset, so concurrent readers of f do not interfere.
func sendfile(tc *net.TCPConn, f *os.File, pos, n int64) error {
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	src, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	cerr := src.Control(func(in uintptr) {
		err := rc.Write(func(out uintptr) bool {
			for n > 0 {
				w, e := syscall.Sendfile(int(out), int(in), &pos, int(min(n, 1<<30)))
				if w > 0 {
					n -= int64(w)
				}
				switch {
				case e == syscall.EAGAIN:
					return false // wait until the socket is writable
				case e == syscall.EINTR:
					continue
				case e != nil:
					serr = fmt.Errorf("gateway: sendfile: %w", e)
					return true
				case w == 0:
					serr = fmt.Errorf("gateway: sendfile: %w (segment shorter than its region)", io.ErrUnexpectedEOF)
					return true
				}
			}
			return true
		})
		if err != nil && serr == nil {
			serr = err
		}
	})
	if cerr != nil {
		return cerr
	}
	return serr
}
