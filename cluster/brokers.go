package cluster

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
)

// BrokerInfo is a broker's registration, the content of /brokers/ids/<id>.
type BrokerInfo struct {
	ID int32
	// Host and Port are the Kafka listener clients connect to (PLAINTEXT).
	Host string
	Port int32
	// Rack is broker.rack; "" means none (rack-unaware placement).
	Rack string
	// ActorAddress is the protoactor remoting host:port of the broker.
	ActorAddress string
	// Timestamp is when the registration was written (informational).
	Timestamp time.Time
	// SessionID is the EphemeralOwner of the znode when read; 0 when
	// writing.
	SessionID int64
	// Epoch is the znode's creation zxid when read (Kafka's broker epoch,
	// KIP-380): it changes on every re-registration, so a controller that
	// sees the same id with a new epoch knows the broker bounced even if
	// it never saw the id missing from /brokers/ids.
	Epoch int64
	// DirectoryID identifies the broker's data directory (directory.id in
	// its meta.properties, as Kafka's KIP-858 keeps it): a registration that
	// carries it was made by a process on the same directory.
	DirectoryID string
}

// brokerJSON is Kafka's version 5 broker registration plus actor_address.
type brokerJSON struct {
	Version                     int               `json:"version"`
	Host                        string            `json:"host"`
	Port                        int32             `json:"port"`
	Endpoints                   []string          `json:"endpoints"`
	ListenerSecurityProtocolMap map[string]string `json:"listener_security_protocol_map,omitempty"`
	JmxPort                     int               `json:"jmx_port"`
	Timestamp                   string            `json:"timestamp"`
	Rack                        *string           `json:"rack,omitempty"`
	Features                    map[string]any    `json:"features,omitempty"`
	ActorAddress                string            `json:"actor_address,omitempty"`
	DirectoryID                 string            `json:"directory_id,omitempty"`
}

// EncodeBrokerInfo returns the JSON Troupe writes to /brokers/ids/<id>.
func EncodeBrokerInfo(b BrokerInfo) []byte {
	ts := b.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	j := brokerJSON{
		Version:                     5,
		Host:                        b.Host,
		Port:                        b.Port,
		Endpoints:                   []string{"PLAINTEXT://" + net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))},
		ListenerSecurityProtocolMap: map[string]string{"PLAINTEXT": "PLAINTEXT"},
		JmxPort:                     -1,
		Timestamp:                   msString(ts),
		Features:                    map[string]any{},
		ActorAddress:                b.ActorAddress,
		DirectoryID:                 b.DirectoryID,
	}
	if b.Rack != "" {
		rack := b.Rack
		j.Rack = &rack
	}
	return mustJSON(j)
}

// DecodeBrokerInfo parses a broker registration (Kafka versions 1–5; a
// missing top-level host is taken from the first PLAINTEXT endpoint).
func DecodeBrokerInfo(id int32, data []byte) (BrokerInfo, error) {
	path := BrokerPath(id)
	var j brokerJSON
	if err := decodeJSON(path, data, &j); err != nil {
		return BrokerInfo{}, err
	}
	b := BrokerInfo{ID: id, Host: j.Host, Port: j.Port, ActorAddress: j.ActorAddress, DirectoryID: j.DirectoryID, Timestamp: parseMs(j.Timestamp)}
	if j.Rack != nil {
		b.Rack = *j.Rack
	}
	if b.Host == "" || b.Port <= 0 {
		for _, ep := range j.Endpoints {
			name, hostport, ok := strings.Cut(ep, "://")
			if !ok || (j.ListenerSecurityProtocolMap[name] != "PLAINTEXT" && name != "PLAINTEXT") {
				continue
			}
			h, p, err := net.SplitHostPort(hostport)
			if err != nil {
				continue
			}
			port, err := strconv.Atoi(p)
			if err != nil {
				continue
			}
			b.Host, b.Port = h, int32(port)
			break
		}
	}
	return b, nil
}

// BrokerIDs returns the ids registered under /brokers/ids, ascending.
func (s *Store) BrokerIDs() ([]int32, error) {
	names, _, err := s.conn.Children(BrokerIDsPath)
	if err != nil {
		return nil, err
	}
	return parseBrokerIDs(names)
}

// BrokerIDsW is BrokerIDs plus a watch on broker joins and leaves.
func (s *Store) BrokerIDsW() ([]int32, <-chan WatchEvent, error) {
	names, _, ch, err := s.conn.ChildrenW(BrokerIDsPath)
	if err != nil {
		return nil, nil, err
	}
	ids, err := parseBrokerIDs(names)
	return ids, ch, err
}

func parseBrokerIDs(names []string) ([]int32, error) {
	ids := make([]int32, 0, len(names))
	for _, n := range names {
		id, err := strconv.ParseInt(n, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: %s/%s: not a broker id", ErrCorruptZNode, BrokerIDsPath, n)
		}
		ids = append(ids, int32(id))
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// Broker reads one registration; ErrNoNode if the broker is not registered.
func (s *Store) Broker(id int32) (BrokerInfo, error) {
	data, st, err := s.conn.Get(BrokerPath(id))
	if err != nil {
		return BrokerInfo{}, err
	}
	b, err := DecodeBrokerInfo(id, data)
	b.SessionID, b.Epoch = st.EphemeralOwner, st.Czxid
	return b, err
}

// Brokers returns every registered broker, by id. A broker that leaves while
// the list is read is left out.
func (s *Store) Brokers() ([]BrokerInfo, error) {
	ids, err := s.BrokerIDs()
	if err != nil {
		return nil, err
	}
	out := make([]BrokerInfo, 0, len(ids))
	for _, id := range ids {
		b, err := s.Broker(id)
		if errors.Is(err, ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
