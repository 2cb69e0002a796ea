package logging

import (
	"context"
	"log/slog"

	"github.com/rs/zerolog"
)

// SlogHandler is a slog.Handler that writes records to a zerolog.Logger.
// protoactor-go logs through *slog.Logger; routing it here keeps a broker's
// output in one format with one level switch.
//
// Groups are flattened into dotted field names ("remote.address").
type SlogHandler struct {
	log    zerolog.Logger
	prefix string      // group prefix, "" or ending in "."
	attrs  []slog.Attr // attributes added by WithAttrs, already prefixed
}

// NewSlogHandler returns a handler that writes to log.
func NewSlogHandler(log zerolog.Logger) *SlogHandler { return &SlogHandler{log: log} }

// Enabled reports whether the zerolog logger would write a record at level.
func (h *SlogHandler) Enabled(_ context.Context, level slog.Level) bool {
	return h.log.GetLevel() <= zlevel(level)
}

// Handle writes one record.
func (h *SlogHandler) Handle(_ context.Context, r slog.Record) error {
	ev := h.log.WithLevel(zlevel(r.Level))
	if ev == nil {
		return nil
	}
	for _, a := range h.attrs {
		addAttr(ev, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		addAttr(ev, h.prefix, a)
		return true
	})
	ev.Msg(r.Message)
	return nil
}

// WithAttrs returns a handler that adds attrs to every record.
func (h *SlogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range attrs {
		a.Key = h.prefix + a.Key
		n.attrs = append(n.attrs, a)
	}
	return &n
}

// WithGroup returns a handler that prefixes later attribute keys with name.
func (h *SlogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.prefix = h.prefix + name + "."
	return &n
}

func addAttr(ev *zerolog.Event, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	key := prefix + a.Key
	switch v.Kind() {
	case slog.KindGroup:
		for _, g := range v.Group() {
			addAttr(ev, key+".", g)
		}
	case slog.KindString:
		ev.Str(key, v.String())
	case slog.KindInt64:
		ev.Int64(key, v.Int64())
	case slog.KindUint64:
		ev.Uint64(key, v.Uint64())
	case slog.KindFloat64:
		ev.Float64(key, v.Float64())
	case slog.KindBool:
		ev.Bool(key, v.Bool())
	case slog.KindDuration:
		ev.Dur(key, v.Duration())
	case slog.KindTime:
		ev.Time(key, v.Time())
	default:
		if err, ok := v.Any().(error); ok {
			ev.AnErr(key, err)
			return
		}
		ev.Interface(key, v.Any())
	}
}

func zlevel(l slog.Level) zerolog.Level {
	switch {
	case l >= slog.LevelError:
		return zerolog.ErrorLevel
	case l >= slog.LevelWarn:
		return zerolog.WarnLevel
	case l >= slog.LevelInfo:
		return zerolog.InfoLevel
	default:
		return zerolog.DebugLevel
	}
}
