package storage

import "testing"

func TestSetConfigAppliesToOpenLog(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionMs, cfg.RetentionBytes = -1, -1
	l := openT(t, NewMemFS(), "/p", cfg, nil)
	defer l.Close()
	appendN(t, l, 200, 1, 100, 0, 0)
	l.SetHighWatermark(l.LogEndOffset())
	if n, err := l.ApplyRetention(); err != nil || n != 0 {
		t.Fatalf("unlimited retention deleted %d segments (%v)", n, err)
	}
	segs := l.NumSegments()
	cfg.RetentionBytes = 4096
	cfg.MaxMessageBytes = 64
	cfg.FileDeleteDelay = 0
	l.SetConfig(cfg)
	if n, err := l.ApplyRetention(); err != nil || n == 0 || l.NumSegments() >= segs {
		t.Fatalf("lowered retention.bytes deleted %d of %d segments (%v)", n, segs, err)
	}
	if l.deleter.delay != 0 {
		t.Fatalf("file.delete.delay.ms not applied: %v", l.deleter.delay)
	}
	if _, err := l.Append(batchOfSize(1000, 0), 0); err == nil {
		t.Fatal("a batch over the lowered max.message.bytes was accepted")
	}
}
