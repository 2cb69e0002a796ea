// Package gateway is Troupe's Kafka protocol server: it accepts TCP
// connections from unmodified Kafka clients, decodes requests with
// franz-go's kmsg, hands each partition's work to the partition actor that
// owns it, and encodes the answers.
//
// # Connections
//
// Each connection has two goroutines. The reader reads a frame (after
// checking its size against socket.request.max.bytes and reserving memory
// for it), decodes it, and starts the request: everything that must happen
// in request order (sending a produce batch to its partition actor) happens
// here, so pipelined requests reach a partition in the order the client
// sent them. Starting a request yields a pending answer. The writer takes
// pending answers in request order, waits for each (with a deadline) and
// writes it. Responses therefore leave in request order, while the broker
// keeps working on the requests behind the one being answered.
//
// Memory is bounded twice: a connection may have at most
// connection.max.inflight.requests requests read but not answered, and all
// connections together at most queued.max.request.bytes of request frames.
// When either is exhausted the reader stops reading its socket, so TCP
// pushes back on the client; the partition actors' mailboxes never hold
// more than that admission lets in.
//
// # Files
//
// One file per API key, named by key number (00_produce.go, 01_fetch.go, …),
// each opening with the versions it supports and how it differs from Apache
// Kafka. The version ranges are registered in one table (versions.go).
// Internal errors map to Kafka error codes in one table (errors.go). kmsg
// types never travel past this package: partition actors see record
// batches as opaque bytes.
//
// Gateway goroutines are not actors: they may block, and they wait on the
// actors' answers (reply channels) always with a deadline.
package gateway
