package cli

import (
	"bufio"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultFormat is the consume output format: each value on its own line.
const DefaultFormat = `%v\n`

// recordFormat is a parsed --format template: literal text interleaved with
// record fields.
//
// Template syntax:
//
//	%t topic   %p partition   %o offset   %k key   %v value
//	%T timestamp (Unix milliseconds)   %h headers as k=v,k=v   %% a percent sign
//	\n newline   \t tab   \r carriage return   \\ a backslash   \0 a NUL byte
//
// Keys, values and headers are written as raw bytes, unescaped, so that a
// value consumed with %v is byte for byte what was produced.
type recordFormat []formatPart

// formatPart is either literal text (field == 0) or one record field.
type formatPart struct {
	lit   []byte
	field byte
}

// parseFormat compiles a template; an unknown % or \ escape is an error, not
// literal text, so that a typo is noticed.
func parseFormat(s string) (recordFormat, error) {
	var f recordFormat
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			f = append(f, formatPart{lit: lit})
			lit = nil
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' && c != '\\' {
			lit = append(lit, c)
			continue
		}
		if i+1 == len(s) {
			return nil, fmt.Errorf("%w: format %q ends with a lone %q", ErrInvalidArgument, s, c)
		}
		i++
		n := s[i]
		if c == '\\' {
			switch n {
			case 'n':
				lit = append(lit, '\n')
			case 't':
				lit = append(lit, '\t')
			case 'r':
				lit = append(lit, '\r')
			case '0':
				lit = append(lit, 0)
			case '\\':
				lit = append(lit, '\\')
			default:
				return nil, fmt.Errorf("%w: format %q: unknown escape \\%c", ErrInvalidArgument, s, n)
			}
			continue
		}
		switch n {
		case '%':
			lit = append(lit, '%')
		case 't', 'p', 'o', 'k', 'v', 'T', 'h':
			flush()
			f = append(f, formatPart{field: n})
		default:
			return nil, fmt.Errorf("%w: format %q: unknown field %%%c (want %%t %%p %%o %%k %%v %%T %%h)", ErrInvalidArgument, s, n)
		}
	}
	flush()
	return f, nil
}

// write appends r formatted to w. A bufio.Writer keeps its errors sticky,
// so the caller checks Flush once instead of every write.
func (f recordFormat) write(w *bufio.Writer, r *kgo.Record) {
	var num [20]byte
	for _, p := range f {
		switch p.field {
		case 0:
			w.Write(p.lit)
		case 't':
			w.WriteString(r.Topic)
		case 'p':
			w.Write(strconv.AppendInt(num[:0], int64(r.Partition), 10))
		case 'o':
			w.Write(strconv.AppendInt(num[:0], r.Offset, 10))
		case 'k':
			w.Write(r.Key)
		case 'v':
			w.Write(r.Value)
		case 'T':
			w.Write(strconv.AppendInt(num[:0], r.Timestamp.UnixMilli(), 10))
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					w.WriteByte(',')
				}
				w.WriteString(h.Key)
				w.WriteByte('=')
				w.Write(h.Value)
			}
		}
	}
}
