// Package logging builds Troupe's zerolog logger and bridges protoactor-go's
// slog output into it.
//
// The logger is human-readable when stderr is a terminal and JSON lines
// otherwise, so that a newcomer running `make run` sees readable output and a
// service manager collecting logs gets structured records.
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// Format selects the encoding of log records.
type Format string

// Formats accepted by New.
const (
	FormatAuto    Format = "auto"    // console on a terminal, JSON otherwise
	FormatJSON    Format = "json"    // one JSON object per line
	FormatConsole Format = "console" // human-readable, colored when on a terminal
)

// New returns a logger that writes to w at the given level ("trace", "debug",
// "info", "warn", "error"). An unknown level or format is an error, not a
// silent default, because a typo in a service unit should be noticed.
func New(w io.Writer, level string, format Format) (zerolog.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), err
	}
	out := w
	switch format {
	case FormatAuto, "":
		if isTerminal(w) {
			out = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
		}
	case FormatConsole:
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000", NoColor: !isTerminal(w)}
	case FormatJSON:
	default:
		return zerolog.Nop(), fmt.Errorf("logging: unknown format %q (want auto, json or console)", format)
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger(), nil
}

// ParseLevel maps a level name to a zerolog level.
func ParseLevel(level string) (zerolog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "trace":
		return zerolog.TraceLevel, nil
	case "debug":
		return zerolog.DebugLevel, nil
	case "info", "":
		return zerolog.InfoLevel, nil
	case "warn", "warning":
		return zerolog.WarnLevel, nil
	case "error":
		return zerolog.ErrorLevel, nil
	case "disabled", "off":
		return zerolog.Disabled, nil
	}
	return zerolog.NoLevel, fmt.Errorf("logging: unknown level %q (want trace, debug, info, warn, error or off)", level)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func init() {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	zerolog.DurationFieldUnit = time.Millisecond
	zerolog.DurationFieldInteger = false
}
