//go:build invariants

package storage

// invariantsEnabled turns on checkConsistency after every structural change
// (go test -tags invariants): it reads every byte of the log, so it is for
// tests only.
const invariantsEnabled = true
