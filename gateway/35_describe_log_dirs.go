package gateway

// DescribeLogDirs (key 35), versions 0–4.
//
// A broker describes its own log directory (Troupe has one: the data
// directory): for each local replica asked for (null topics: all), its
// size in bytes and offset_lag, the high watermark minus the replica's log
// end (never negative; 0 for a leader), as Kafka reports a current log.
// v4 adds the file system's total and usable bytes. Figures are as the
// partition actors published them at their last housekeeping round (about
// a second old at most). Troupe has no future logs (is_future_key false).

import (
	"path/filepath"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/actors"
)

func init() { regKey(35, 0, 4, handleDescribeLogDirs) }

func handleDescribeLogDirs(r *request) answer {
	return func() (kmsg.Response, error) {
		req := r.kreq.(*kmsg.DescribeLogDirsRequest)
		resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
		s := r.c.s
		stats := s.backend.Replicas().Stats()
		var wanted map[actors.TopicPartition]bool // nil: all
		if req.Topics != nil {
			wanted = map[actors.TopicPartition]bool{}
			for _, t := range req.Topics {
				for _, p := range t.Partitions {
					wanted[actors.TopicPartition{Topic: t.Topic, Partition: p}] = true
				}
			}
		}
		dir := kmsg.NewDescribeLogDirsResponseDir()
		dir.Dir = s.cfg.DataDir
		if abs, err := filepath.Abs(dir.Dir); err == nil {
			dir.Dir = abs
		}
		total, used := actors.DiskUsage(s.cfg.DataDir)
		if total > 0 {
			dir.TotalBytes, dir.UsableBytes = total, total-used
		} else {
			dir.TotalBytes, dir.UsableBytes = -1, -1
		}
		tps := make([]actors.TopicPartition, 0, len(stats))
		for tp := range stats {
			if wanted == nil || wanted[tp] {
				tps = append(tps, tp)
			}
		}
		slices.SortFunc(tps, func(a, b actors.TopicPartition) int { return a.Compare(b) })
		for _, tp := range tps {
			st := stats[tp]
			if n := len(dir.Topics); n == 0 || dir.Topics[n-1].Topic != tp.Topic {
				t := kmsg.NewDescribeLogDirsResponseDirTopic()
				t.Topic = tp.Topic
				dir.Topics = append(dir.Topics, t)
			}
			p := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			p.Partition, p.Size = tp.Partition, st.Size()
			p.OffsetLag = max(0, st.HighWatermark()-st.LogEnd())
			t := &dir.Topics[len(dir.Topics)-1]
			t.Partitions = append(t.Partitions, p)
		}
		resp.Dirs = append(resp.Dirs, dir)
		return resp, nil
	}
}
