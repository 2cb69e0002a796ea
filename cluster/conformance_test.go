package cluster

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// testConformance runs the znode semantics script against one
// implementation. mk returns a harness on a fresh, empty namespace.
func testConformance(t *testing.T, mk func(t *testing.T) harness) {
	t.Run("CreateGetSetDelete", func(t *testing.T) {
		h := mk(t)
		c := h.session(t)
		p, err := c.Create("/a", []byte("one"), ModePersistent)
		must(t, err)
		if p != "/a" {
			t.Fatalf("created %q", p)
		}
		data, st, err := c.Get("/a")
		must(t, err)
		if string(data) != "one" || st.Version != 0 || st.Cversion != 0 || st.EphemeralOwner != 0 ||
			st.DataLength != 3 || st.NumChildren != 0 || st.Czxid != st.Mzxid || st.Czxid == 0 {
			t.Fatalf("after create: %q %+v", data, st)
		}
		st2, err := c.Set("/a", []byte("two!"), 0)
		must(t, err)
		if st2.Version != 1 || st2.Mzxid <= st.Mzxid || st2.Czxid != st.Czxid || st2.DataLength != 4 {
			t.Fatalf("after set: %+v (before %+v)", st2, st)
		}
		_, err = c.Set("/a", []byte("x"), 0)
		mustErr(t, err, ErrBadVersion)
		_, err = c.Set("/a", []byte("three"), AnyVersion)
		must(t, err)
		_, err = c.Set("/missing", nil, AnyVersion)
		mustErr(t, err, ErrNoNode)
		_, _, err = c.Get("/missing")
		mustErr(t, err, ErrNoNode)
		ok, st3, err := c.Exists("/a")
		must(t, err)
		if !ok || st3.Version != 2 {
			t.Fatalf("exists: %v %+v", ok, st3)
		}
		ok, st4, err := c.Exists("/missing")
		must(t, err)
		if ok || st4 != (Stat{}) {
			t.Fatalf("exists missing: %v %+v", ok, st4)
		}
		mustErr(t, c.Delete("/a", 1), ErrBadVersion)
		must(t, c.Delete("/a", 2))
		mustErr(t, c.Delete("/a", AnyVersion), ErrNoNode)
		// Empty data reads back empty.
		_, err = c.Create("/empty", nil, ModePersistent)
		must(t, err)
		data, st, err = c.Get("/empty")
		must(t, err)
		if len(data) != 0 || st.DataLength != 0 {
			t.Fatalf("empty: %q %+v", data, st)
		}
	})

	t.Run("CreateErrors", func(t *testing.T) {
		h := mk(t)
		c := h.session(t)
		_, err := c.Create("/no/parent", nil, ModePersistent)
		mustErr(t, err, ErrNoNode)
		_, err = c.Create("/x", nil, ModePersistent)
		must(t, err)
		_, err = c.Create("/x", nil, ModePersistent)
		mustErr(t, err, ErrNodeExists)
		var oe *OpError
		if !errors.As(err, &oe) || oe.Op != "create" || oe.Path != "/x" {
			t.Fatalf("not an OpError naming the path: %#v", err)
		}
		for _, bad := range []string{"", "x", "/x/", "//x", "/x//y", "/x/./y", "/x/../y"} {
			_, err = c.Create(bad, nil, ModePersistent)
			mustErr(t, err, ErrBadPath)
			_, _, err = c.Get(bad)
			mustErr(t, err, ErrBadPath)
		}
		_, err = c.Create("/x/y", nil, ModePersistent)
		must(t, err)
		mustErr(t, c.Delete("/x", AnyVersion), ErrNotEmpty)
	})

	t.Run("ChildrenAndCversion", func(t *testing.T) {
		h := mk(t)
		c := h.session(t)
		_, err := c.Create("/p", nil, ModePersistent)
		must(t, err)
		for _, n := range []string{"c", "a", "b"} {
			_, err := c.Create("/p/"+n, nil, ModePersistent)
			must(t, err)
		}
		names, st, err := c.Children("/p")
		must(t, err)
		if !reflect.DeepEqual(names, []string{"a", "b", "c"}) || st.NumChildren != 3 || st.Cversion != 3 || st.Version != 0 {
			t.Fatalf("children %v %+v", names, st)
		}
		must(t, c.Delete("/p/b", AnyVersion))
		names, st, err = c.Children("/p")
		must(t, err)
		if !reflect.DeepEqual(names, []string{"a", "c"}) || st.Cversion != 4 || st.NumChildren != 2 {
			t.Fatalf("after delete %v %+v", names, st)
		}
		_, _, err = c.Children("/nope")
		mustErr(t, err, ErrNoNode)
	})

	t.Run("Sequential", func(t *testing.T) {
		h := mk(t)
		c := h.session(t)
		_, err := c.Create("/q", nil, ModePersistent)
		must(t, err)
		var got []string
		for i := 0; i < 3; i++ {
			p, err := c.Create("/q/item-", []byte{byte(i)}, ModePersistentSequential)
			must(t, err)
			got = append(got, p)
		}
		want := []string{"/q/item-0000000000", "/q/item-0000000001", "/q/item-0000000002"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("sequential names %v, want %v", got, want)
		}
		// The suffix counts creates; deletes do not free numbers (and bump
		// the cversion without moving the sequence).
		must(t, c.Delete(want[2], AnyVersion))
		must(t, c.Delete(want[0], AnyVersion))
		p, err := c.Create("/q/item-", nil, ModeEphemeralSequential)
		must(t, err)
		if p != "/q/item-0000000003" {
			t.Fatalf("after delete: %s", p)
		}
		_, st, err := c.Get("/q")
		must(t, err)
		if st.Cversion != 6 || st.NumChildren != 2 {
			t.Fatalf("parent stat %+v: want cversion 6 (4 creates + 2 deletes)", st)
		}
		_, st, err = c.Get(p)
		must(t, err)
		if st.EphemeralOwner != c.SessionID() {
			t.Fatalf("ephemeral sequential owner %x, session %x", st.EphemeralOwner, c.SessionID())
		}
		// A trailing slash makes the sequence number the whole name.
		p, err = c.Create("/q/", nil, ModePersistentSequential)
		must(t, err)
		if p != "/q/0000000004" {
			t.Fatalf("trailing slash: %s", p)
		}
	})

	t.Run("Ephemeral", func(t *testing.T) {
		h := mk(t)
		a, b := h.session(t), h.session(t)
		if a.SessionID() == 0 || a.SessionID() == b.SessionID() {
			t.Fatalf("session ids %x %x", a.SessionID(), b.SessionID())
		}
		_, err := a.Create("/e", []byte("a"), ModeEphemeral)
		must(t, err)
		_, st, err := b.Get("/e")
		must(t, err)
		if st.EphemeralOwner != a.SessionID() {
			t.Fatalf("owner %x, want %x", st.EphemeralOwner, a.SessionID())
		}
		_, err = a.Create("/e/child", nil, ModePersistent)
		mustErr(t, err, ErrNoChildrenForEphemerals)
		_, _, ch, err := b.GetW("/e")
		must(t, err)
		must(t, a.Close())
		ev := waitEvent(t, ch, h.eventWait)
		if ev.Type != EventNodeDeleted || ev.Path != "/e" {
			t.Fatalf("event %+v", ev)
		}
		ok, _, err := b.Exists("/e")
		must(t, err)
		if ok {
			t.Fatal("ephemeral survived its session's close")
		}
		_, _, err = a.Get("/e")
		mustErr(t, err, ErrClosed)
		_, err = a.Create("/z", nil, ModePersistent)
		mustErr(t, err, ErrClosed)
	})

	t.Run("Watches", func(t *testing.T) {
		h := mk(t)
		c, other := h.session(t), h.session(t)
		_, err := c.Create("/w", []byte("0"), ModePersistent)
		must(t, err)

		// Data watch: fires once on the next change, from any session.
		_, _, dataCh, err := c.GetW("/w")
		must(t, err)
		_, err = other.Set("/w", []byte("1"), AnyVersion)
		must(t, err)
		ev := waitEvent(t, dataCh, h.eventWait)
		if ev.Type != EventNodeDataChanged || ev.Path != "/w" {
			t.Fatalf("data watch: %+v", ev)
		}
		if _, open := <-dataCh; open {
			t.Fatal("watch channel not closed after its event")
		}

		// Exists watch on a missing node: fires on creation.
		ok, _, existCh, err := c.ExistsW("/w/kid")
		must(t, err)
		if ok {
			t.Fatal("exists")
		}
		// Child watch: fires on a child create.
		_, _, childCh, err := c.ChildrenW("/w")
		must(t, err)
		_, err = other.Create("/w/kid", nil, ModePersistent)
		must(t, err)
		if ev := waitEvent(t, existCh, h.eventWait); ev.Type != EventNodeCreated || ev.Path != "/w/kid" {
			t.Fatalf("exists watch: %+v", ev)
		}
		if ev := waitEvent(t, childCh, h.eventWait); ev.Type != EventNodeChildrenChanged || ev.Path != "/w" {
			t.Fatalf("child watch: %+v", ev)
		}

		// Exists watch on an existing node is a data watch: deletion.
		ok, _, delCh, err := c.ExistsW("/w/kid")
		must(t, err)
		if !ok {
			t.Fatal("missing")
		}
		_, _, childCh, err = c.ChildrenW("/w")
		must(t, err)
		must(t, other.Delete("/w/kid", AnyVersion))
		if ev := waitEvent(t, delCh, h.eventWait); ev.Type != EventNodeDeleted || ev.Path != "/w/kid" {
			t.Fatalf("delete watch: %+v", ev)
		}
		if ev := waitEvent(t, childCh, h.eventWait); ev.Type != EventNodeChildrenChanged {
			t.Fatalf("child watch on delete: %+v", ev)
		}

		// A child watch on a deleted node fires NodeDeleted; two watches by
		// the same session on one path both fire.
		_, _, c1, err := c.ChildrenW("/w")
		must(t, err)
		_, _, d1, err := c.GetW("/w")
		must(t, err)
		_, _, d2, err := c.GetW("/w")
		must(t, err)
		must(t, other.Delete("/w", AnyVersion))
		for i, ch := range []<-chan WatchEvent{c1, d1, d2} {
			if ev := waitEvent(t, ch, h.eventWait); ev.Type != EventNodeDeleted || ev.Path != "/w" {
				t.Fatalf("watch %d on deleted node: %+v", i, ev)
			}
		}

		// Watches fire after the write is visible: ordering check.
		_, err = c.Create("/order", []byte("a"), ModePersistent)
		must(t, err)
		_, _, oc, err := c.GetW("/order")
		must(t, err)
		_, err = other.Set("/order", []byte("b"), AnyVersion)
		must(t, err)
		waitEvent(t, oc, h.eventWait)
		data, _, err := c.Get("/order")
		must(t, err)
		if string(data) != "b" {
			t.Fatalf("read after watch: %q", data)
		}
	})

	t.Run("Multi", func(t *testing.T) {
		h := mk(t)
		c := h.session(t)
		_, err := c.Create("/m", []byte("v0"), ModePersistent)
		must(t, err)
		res, err := c.Multi(
			CreateOp{Path: "/m/a", Data: []byte("a"), Mode: ModePersistent},
			CreateOp{Path: "/m/a/b", Mode: ModePersistent}, // sees the previous op
			CreateOp{Path: "/m/s-", Mode: ModePersistentSequential},
			SetOp{Path: "/m", Data: []byte("v1"), Version: 0},
			CheckOp{Path: "/m", Version: 1},
		)
		must(t, err)
		if len(res) != 5 || res[0].Path != "/m/a" || res[1].Path != "/m/a/b" || res[2].Path != "/m/s-0000000001" || res[3].Stat.Version != 1 {
			t.Fatalf("results %+v", res)
		}
		// Atomic: a failing op undoes everything before it.
		_, err = c.Multi(
			CreateOp{Path: "/m/x", Mode: ModePersistent},
			DeleteOp{Path: "/m/a/b", Version: AnyVersion},
			SetOp{Path: "/m", Data: []byte("v2"), Version: 0}, // stale
			CreateOp{Path: "/m/y", Mode: ModePersistent},
		)
		mustErr(t, err, ErrBadVersion)
		var me *MultiError
		if !errors.As(err, &me) || me.Index != 2 {
			t.Fatalf("multi error %#v", err)
		}
		for _, p := range []string{"/m/x", "/m/y"} {
			if ok, _, _ := c.Exists(p); ok {
				t.Fatalf("%s exists after a failed multi", p)
			}
		}
		if ok, _, _ := c.Exists("/m/a/b"); !ok {
			t.Fatal("/m/a/b deleted by a failed multi")
		}
		data, st, err := c.Get("/m")
		must(t, err)
		if string(data) != "v1" || st.Version != 1 {
			t.Fatalf("/m = %q %+v", data, st)
		}
		// Errors at the first op, check ops, NotEmpty, NodeExists.
		cases := []struct {
			ops   []Op
			index int
			want  error
		}{
			{[]Op{CheckOp{Path: "/m", Version: 0}, SetOp{Path: "/m", Version: AnyVersion}}, 0, ErrBadVersion},
			{[]Op{CheckOp{Path: "/nope", Version: 0}}, 0, ErrNoNode},
			{[]Op{CheckOp{Path: "/m", Version: 1}, DeleteOp{Path: "/m/a", Version: AnyVersion}}, 1, ErrNotEmpty},
			{[]Op{CreateOp{Path: "/m/a", Mode: ModePersistent}}, 0, ErrNodeExists},
		}
		for i, tc := range cases {
			_, err := c.Multi(tc.ops...)
			mustErr(t, err, tc.want)
			if !errors.As(err, &me) || me.Index != tc.index {
				t.Fatalf("case %d: %#v", i, err)
			}
		}
		// Watches fire for every op of a committed multi.
		_, _, wa, err := c.GetW("/m/a")
		must(t, err)
		_, _, wm, err := c.ChildrenW("/m")
		must(t, err)
		_, err = c.Multi(SetOp{Path: "/m/a", Data: []byte("z"), Version: AnyVersion}, CreateOp{Path: "/m/n", Mode: ModePersistent})
		must(t, err)
		if ev := waitEvent(t, wa, h.eventWait); ev.Type != EventNodeDataChanged {
			t.Fatalf("%+v", ev)
		}
		if ev := waitEvent(t, wm, h.eventWait); ev.Type != EventNodeChildrenChanged {
			t.Fatalf("%+v", ev)
		}
	})

	t.Run("BinaryData", func(t *testing.T) {
		h := mk(t)
		c := h.session(t)
		blob := make([]byte, 4096)
		for i := range blob {
			blob[i] = byte(i * 7)
		}
		_, err := c.Create("/bin", blob, ModePersistent)
		must(t, err)
		got, _, err := c.Get("/bin")
		must(t, err)
		if !bytes.Equal(got, blob) {
			t.Fatal("binary data changed")
		}
	})

	t.Run("SessionExpiry", func(t *testing.T) {
		h := mk(t)
		c, other := h.session(t), h.session(t)
		events, cancel := c.SessionEvents()
		defer cancel()
		old := c.SessionID()
		_, err := c.Create("/eph", nil, ModeEphemeral)
		must(t, err)
		_, err = c.Create("/pers", nil, ModePersistent)
		must(t, err)
		_, _, ownWatch, err := c.GetW("/pers")
		must(t, err)
		_, _, otherWatch, err := other.GetW("/eph")
		must(t, err)

		h.expire(t, c)

		ev := waitSession(t, events, h.eventWait, func(ev SessionEvent) bool { return ev.State == StateExpired })
		if ev.SessionID != old {
			t.Fatalf("expired event for %x, want %x", ev.SessionID, old)
		}
		ev = waitSession(t, events, h.eventWait, func(ev SessionEvent) bool { return ev.State == StateConnected })
		if ev.SessionID == old || ev.SessionID == 0 || ev.SessionID != c.SessionID() {
			t.Fatalf("new session %x (old %x, current %x)", ev.SessionID, old, c.SessionID())
		}
		if ev := waitEvent(t, otherWatch, h.eventWait); ev.Type != EventNodeDeleted {
			t.Fatalf("other session's watch on the expired ephemeral: %+v", ev)
		}
		if ev := waitEvent(t, ownWatch, h.eventWait); ev.Type != EventNotWatching || !errors.Is(ev.Err, ErrSessionExpired) {
			t.Fatalf("own watch after expiry: %+v", ev)
		}
		if ok, _, _ := other.Exists("/eph"); ok {
			t.Fatal("ephemeral survived expiry")
		}
		// The new session works and owns new ephemerals.
		_, err = c.Create("/eph", nil, ModeEphemeral)
		must(t, err)
		_, st, err := other.Get("/eph")
		must(t, err)
		if st.EphemeralOwner != c.SessionID() {
			t.Fatalf("owner %x, want %x", st.EphemeralOwner, c.SessionID())
		}
		if c.State() != StateConnected {
			t.Fatalf("state %v", c.State())
		}
	})

	t.Run("CloseFiresWatches", func(t *testing.T) {
		h := mk(t)
		c := h.session(t)
		_, err := c.Create("/cw", nil, ModePersistent)
		must(t, err)
		_, _, ch, err := c.GetW("/cw")
		must(t, err)
		events, cancel := c.SessionEvents()
		defer cancel()
		must(t, c.Close())
		if ev := waitEvent(t, ch, h.eventWait); ev.Type != EventNotWatching || !errors.Is(ev.Err, ErrClosed) {
			t.Fatalf("watch after close: %+v", ev)
		}
		waitSession(t, events, h.eventWait, func(ev SessionEvent) bool { return ev.State == StateClosed })
		if c.State() != StateClosed {
			t.Fatalf("state %v", c.State())
		}
		// A subscription after close gets StateClosed at once.
		late, cancelLate := c.SessionEvents()
		defer cancelLate()
		waitSession(t, late, h.eventWait, func(ev SessionEvent) bool { return ev.State == StateClosed })
	})
}

func TestLocalTreeConformance(t *testing.T) {
	testConformance(t, localHarness)
}
