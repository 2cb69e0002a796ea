package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Errors returned by this package. Broker errors are not translated: they are
// wrapped kerr errors and keep their Kafka name.
var (
	// ErrInvalidArgument marks a bad flag value or argument.
	ErrInvalidArgument = errors.New("cli: invalid argument")
	// ErrProduceFailed marks a produce run in which at least one record was
	// not acknowledged.
	ErrProduceFailed = errors.New("cli: records failed to produce")
	// ErrNoProgress marks a bounded consume or bench that saw no record for
	// the whole timeout.
	ErrNoProgress = errors.New("cli: no progress before timeout")
)

// DefaultBrokers is the address commands dial when none is given.
const DefaultBrokers = "127.0.0.1:9092"

// DefaultTimeout bounds admin requests, record delivery and idle waits when
// Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Options are the settings every command shares.
type Options struct {
	// Brokers are the seed addresses (host:port). Empty means DefaultBrokers.
	Brokers []string
	// Timeout bounds each admin call, the delivery of each produced record,
	// and how long a bounded consume waits without receiving anything.
	// Zero means DefaultTimeout.
	Timeout time.Duration
	// Logger receives franz-go's client logs (its info level is mapped to
	// debug so a normal run stays quiet) and command diagnostics.
	Logger zerolog.Logger
}

func (o Options) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

func (o Options) brokers() []string {
	var out []string
	for _, b := range o.Brokers {
		for _, s := range strings.Split(b, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 {
		out = []string{DefaultBrokers}
	}
	return out
}

// clientOpts returns the kgo options every client built here starts with.
func (o Options) clientOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(o.brokers()...),
		kgo.WithLogger(newKgoLogger(o.Logger)),
		kgo.DialTimeout(min(o.timeout(), 10*time.Second)),
		kgo.RetryTimeout(o.timeout()),
	}
}

// newClient builds a kgo client from the shared options plus extra ones.
func (o Options) newClient(extra ...kgo.Opt) (*kgo.Client, error) {
	cl, err := kgo.NewClient(append(o.clientOpts(), extra...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: client options: %w", ErrInvalidArgument, err)
	}
	return cl, nil
}

// parseAcks maps "all"/"-1", "1" and "0" to kgo acks.
func parseAcks(s string) (kgo.Acks, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "all", "-1", "":
		return kgo.AllISRAcks(), nil
	case "1", "leader":
		return kgo.LeaderAck(), nil
	case "0", "none":
		return kgo.NoAck(), nil
	}
	return kgo.Acks{}, fmt.Errorf("%w: acks %q (want all, 1 or 0)", ErrInvalidArgument, s)
}

// acksName is the canonical spelling of a: "all", "1" or "0".
func acksName(a kgo.Acks) string {
	switch a {
	case kgo.LeaderAck():
		return "1"
	case kgo.NoAck():
		return "0"
	}
	return "all"
}

// producerOpts returns the options shared by `produce` and `bench produce`.
// idempotent nil means "on exactly when acks=all"; asking for idempotence with
// weaker acks is an error because Kafka's idempotent producer requires acks=all.
func producerOpts(acks string, idempotent *bool, compression string) ([]kgo.Opt, error) {
	a, err := parseAcks(acks)
	if err != nil {
		return nil, err
	}
	all := a == kgo.AllISRAcks()
	idem := all
	if idempotent != nil {
		idem = *idempotent
	}
	if idem && !all {
		return nil, fmt.Errorf("%w: an idempotent producer needs acks=all (got acks=%s); pass --idempotent=false", ErrInvalidArgument, acks)
	}
	codec, err := parseCompression(compression)
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{kgo.RequiredAcks(a), kgo.ProducerBatchCompression(codec)}
	if !idem {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	return opts, nil
}

func parseCompression(s string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("%w: compression %q (want none, gzip, snappy, lz4 or zstd)", ErrInvalidArgument, s)
}

// kgoLogger sends franz-go's logs to zerolog. kgo logs every connection and
// metadata refresh at info, which is noise for a command-line tool, so its
// levels are shifted down by one: kgo info becomes zerolog debug.
type kgoLogger struct {
	zl zerolog.Logger
	// level is fixed at construction: kgo asks for it at every log site.
	level kgo.LogLevel
}

func newKgoLogger(zl zerolog.Logger) kgoLogger {
	l := kgoLogger{zl: zl, level: kgo.LogLevelNone}
	// A zero zerolog.Logger has no writer and drops everything, but still
	// reports the debug level; probe it so kgo does not format logs for nothing.
	if ev := zl.WithLevel(zerolog.PanicLevel); ev == nil {
		return l
	}
	switch lvl := max(zl.GetLevel(), zerolog.GlobalLevel()); {
	case lvl <= zerolog.TraceLevel:
		l.level = kgo.LogLevelDebug
	case lvl <= zerolog.DebugLevel:
		l.level = kgo.LogLevelInfo
	case lvl <= zerolog.WarnLevel:
		l.level = kgo.LogLevelWarn
	case lvl <= zerolog.ErrorLevel:
		l.level = kgo.LogLevelError
	}
	return l
}

func (l kgoLogger) Level() kgo.LogLevel { return l.level }

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var ev *zerolog.Event
	switch level {
	case kgo.LogLevelError:
		ev = l.zl.Error()
	case kgo.LogLevelWarn:
		ev = l.zl.Warn()
	case kgo.LogLevelInfo:
		ev = l.zl.Debug()
	default:
		ev = l.zl.Trace()
	}
	if ev == nil {
		return
	}
	for i := 0; i+1 < len(keyvals); i += 2 {
		k, _ := keyvals[i].(string)
		ev = ev.Interface(k, keyvals[i+1])
	}
	ev.Str("component", "kgo").Msg(msg)
}
