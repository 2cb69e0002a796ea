package gateway

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/troupe-mq/troupe/actors"
)

// LeaderConn is a follower broker's Kafka connection to a leader broker,
// used by replica fetchers (actors.LeaderClient). Requests are sent one at
// a time; the caller serializes use.
type LeaderConn struct {
	nc        net.Conn
	br        *bufio.Reader
	fmt       *kmsg.RequestFormatter
	corr      int32
	replicaID int32
	buf       []byte
	maxFrame  int32
}

// replicaFetchVersion and replicaEpochVersion are the versions followers
// speak: every Troupe broker serves them, so no ApiVersions round trip.
// Fetch v15 names topics by id and carries the follower's broker epoch
// (KIP-903); a partition without a topic id is fetched at v12.
const (
	replicaFetchVersion       = 15
	replicaFetchByNameVersion = 12
	replicaEpochVersion       = 4
)

// DialLeader connects to a leader broker's Kafka listener. It matches
// actors.DialLeaderFunc.
func DialLeader(ctx context.Context, addr string, replicaID int32) (actors.LeaderClient, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gateway: dial leader %s: %w", addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return &LeaderConn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), replicaID: replicaID,
		fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID(fmt.Sprintf("troupe-replica-%d", replicaID))), maxFrame: 1 << 30}, nil
}

// Close closes the connection.
func (c *LeaderConn) Close() error { return c.nc.Close() }

// roundTrip sends req and decodes the response into resp.
func (c *LeaderConn) roundTrip(ctx context.Context, req kmsg.Request, resp kmsg.Response) error {
	c.corr++
	corr := c.corr
	c.buf = c.fmt.AppendRequest(c.buf[:0], req, corr)
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	_ = c.nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.nc.Write(c.buf); err != nil {
		return fmt.Errorf("gateway: send %s to leader: %w", kmsg.NameForKey(req.Key()), err)
	}
	var hdr [8]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return fmt.Errorf("gateway: read %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	size := int32(binary.BigEndian.Uint32(hdr[:4]))
	if size < 4 || size > c.maxFrame {
		return fmt.Errorf("gateway: leader sent a %d-byte frame", size)
	}
	if got := int32(binary.BigEndian.Uint32(hdr[4:])); got != corr {
		return fmt.Errorf("gateway: leader answered correlation id %d, want %d", got, corr)
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return fmt.Errorf("gateway: read %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() {
		if len(body) < 1 {
			return errors.New("gateway: truncated response header")
		}
		body = body[1:] // no tagged fields are sent in our response headers
	}
	return resp.ReadFrom(body)
}

// Fetch implements actors.LeaderClient.
func (c *LeaderConn) Fetch(ctx context.Context, rf *actors.ReplicaFetch) ([]actors.FetchedPartition, error) {
	req := kmsg.NewPtrFetchRequest()
	req.Version = replicaFetchVersion
	for _, p := range rf.Partitions {
		if p.TopicID == ([16]byte{}) {
			req.Version = replicaFetchByNameVersion
		}
	}
	req.ReplicaID = rf.ReplicaID
	req.ReplicaState.ID, req.ReplicaState.Epoch = rf.ReplicaID, rf.ReplicaEpoch
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = rf.MaxWaitMs, rf.MinBytes, rf.MaxBytes
	req.SessionEpoch = -1
	byTopic := map[string]int{}
	names := map[[16]byte]string{}
	for _, p := range rf.Partitions {
		i, ok := byTopic[p.TP.Topic]
		if !ok {
			i = len(req.Topics)
			byTopic[p.TP.Topic] = i
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = p.TP.Topic, p.TopicID
			names[p.TopicID] = p.TP.Topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.LogStartOffset = p.TP.Partition, p.FetchOffset, p.LogStartOffset
		rp.CurrentLeaderEpoch, rp.PartitionMaxBytes, rp.LastFetchedEpoch = p.CurrentLeaderEpoch, p.MaxBytes, -1
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	resp := kmsg.NewPtrFetchResponse()
	if err := c.roundTrip(ctx, req, resp); err != nil {
		return nil, err
	}
	if resp.ErrorCode != 0 {
		return nil, fmt.Errorf("gateway: replica fetch failed: %w", errorForCode(resp.ErrorCode))
	}
	var out []actors.FetchedPartition
	for _, t := range resp.Topics {
		name := t.Topic
		if req.Version >= 13 {
			name = names[t.TopicID]
		}
		for _, p := range t.Partitions {
			out = append(out, actors.FetchedPartition{
				TP: actors.TopicPartition{Topic: name, Partition: p.Partition}, Err: errorForCode(p.ErrorCode),
				HighWatermark: p.HighWatermark, LogStartOffset: p.LogStartOffset, Records: p.RecordBatches,
			})
		}
	}
	return out, nil
}

// OffsetsForLeaderEpoch implements actors.LeaderClient.
func (c *LeaderConn) OffsetsForLeaderEpoch(ctx context.Context, qs []actors.EpochQuery) ([]actors.EpochAnswer, error) {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.Version = replicaEpochVersion
	req.ReplicaID = c.replicaID
	byTopic := map[string]int{}
	for _, q := range qs {
		i, ok := byTopic[q.TP.Topic]
		if !ok {
			i = len(req.Topics)
			byTopic[q.TP.Topic] = i
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = q.TP.Topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = q.TP.Partition, q.CurrentLeaderEpoch, q.LeaderEpoch
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	resp := kmsg.NewPtrOffsetForLeaderEpochResponse()
	if err := c.roundTrip(ctx, req, resp); err != nil {
		return nil, err
	}
	var out []actors.EpochAnswer
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out = append(out, actors.EpochAnswer{TP: actors.TopicPartition{Topic: t.Topic, Partition: p.Partition},
				Err: errorForCode(p.ErrorCode), LeaderEpoch: p.LeaderEpoch, EndOffset: p.EndOffset})
		}
	}
	return out, nil
}
