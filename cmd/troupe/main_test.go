package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestVersionCommand(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"version"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "troupe ") {
		t.Fatalf("unexpected output %q", out.String())
	}
}

func TestUnknownLogLevelIsAnError(t *testing.T) {
	g := &globalFlags{logLevel: "shout", logFormat: "auto"}
	if _, err := g.logger(); err == nil {
		t.Fatal("unknown log level accepted")
	}
}
