//go:build !invariants

package storage

// invariantsEnabled: see invariants_on.go.
const invariantsEnabled = false
