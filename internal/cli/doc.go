// Package cli implements Troupe's client-side commands: topic administration,
// producing lines from a reader, consuming to a writer, and the throughput and
// latency benchmarks behind `troupe bench`.
//
// Every command is a plain function taking a context, the shared [Options]
// (brokers, timeout, logger), a command-specific config struct and the
// readers and writers it uses, and it returns an error. cmd/troupe only maps
// flags onto these structs, so the commands run in-process in tests against
// franz-go's kfake cluster.
//
// All Kafka traffic goes through franz-go: kgo for producing and consuming,
// kadm for administration. Errors a broker returns keep their Kafka name
// (for example "TOPIC_ALREADY_EXISTS") because kerr errors are wrapped with
// %w, so callers can also test them with errors.Is.
//
// Concurrency: every exported function is safe to call from many goroutines;
// each call builds and closes its own clients and shares no state.
package cli
