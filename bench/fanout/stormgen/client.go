package main

// One storm client, packet for packet what lib.js's rawClient does with a stream id: open the
// WebSocket (Engine.IO 4, WebSocket transport only), answer the Engine.IO open with a Socket.IO
// CONNECT (with `{"token": ...}` when signed in), answer pings, and on the CONNECT's ack send
// `join` with an ack id and wait for that ack. The outcome is classified as rawClient's:
// `refused` when the Engine.IO open packet never came, otherwise a failed join.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

type outcome struct {
	ok      bool
	refused bool      // failed before the Engine.IO handshake completed
	err     string    // "<url>: <why>", as rawClient's rejection message
	totalMs float64   // from opening the WebSocket to the join ack
	joinMs  float64   // from sending `join` to its ack
	ackAt   time.Time // when the join ack arrived
	conn    *wsConn   // joined: kept open (and read) until the end
}

// joinClient connects one client and joins the room; `connectPacket` is "40" or
// `40{"token":...}`, `joinPacket` the `420["join",{"stream_id":N}]` event.
func joinClient(t *target, connectPacket, joinPacket string, timeout time.Duration) outcome {
	started := time.Now()
	deadline := started.Add(timeout)
	opened := false
	var conn *wsConn
	fail := func(why string) outcome {
		if conn != nil {
			conn.c.Close() // ws.terminate(): no closing handshake
		}
		return outcome{refused: !opened, err: t.raw + ": " + why}
	}
	conn, err := dialWS(t, deadline)
	if err != nil {
		return fail(describe(err, t))
	}
	var joinSent time.Time
	for {
		data, err := conn.readMessage()
		if err != nil {
			return fail(describe(err, t))
		}
		if len(data) == 0 {
			continue
		}
		switch data[0] {
		case '4': // a Socket.IO packet
			if len(data) < 2 {
				continue
			}
			switch data[1] {
			case '2': // EVENT: not ours to read in a storm
			case '0': // CONNECT ok
				joinSent = time.Now()
				if err := conn.writeText(joinPacket); err != nil {
					return fail(describe(err, t))
				}
			case '3': // ACK: rawClient takes the first one as the join's
				if why, ok := ackOK(data); !ok {
					return fail("join: " + why)
				}
				now := time.Now()
				if err := conn.c.SetDeadline(time.Time{}); err != nil {
					return fail(describe(err, t))
				}
				return outcome{
					ok:      true,
					totalMs: ms(now.Sub(started)),
					joinMs:  ms(now.Sub(joinSent)),
					ackAt:   now,
					conn:    conn,
				}
			case '4': // CONNECT_ERROR
				return fail("connect_error " + string(data[2:]))
			}
		case '2': // Engine.IO ping
			if err := conn.writeText("3"); err != nil {
				return fail(describe(err, t))
			}
		case '0': // Engine.IO open: the server accepted the connection
			opened = true
			if err := conn.writeText(connectPacket); err != nil {
				return fail(describe(err, t))
			}
		}
	}
}

// ackOK: is the ack's first argument an object with `ok: true`? If not, that argument as JSON
// (rawClient's `JSON.stringify(ack)`), or "undefined" when there is none.
func ackOK(packet []byte) (string, bool) {
	open := bytes.IndexByte(packet, '[')
	var args []json.RawMessage
	if open < 0 || json.Unmarshal(packet[open:], &args) != nil {
		return "unparsable ack " + string(packet), false
	}
	if len(args) == 0 {
		return "undefined", false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(args[0], &fields) == nil && fields != nil {
		if ok, present := fields["ok"]; present && string(ok) == "true" {
			return "", true
		}
	}
	var compact bytes.Buffer
	if json.Compact(&compact, args[0]) != nil {
		return string(args[0]), false
	}
	return compact.String(), false
}

// describe: an error as rawClient would word it (Node's messages for the common socket
// errors), so the two generators' error summaries read alike.
func describe(err error, t *target) string {
	var netErr net.Error
	var hs errHandshake
	switch {
	case errors.As(err, &netErr) && netErr.Timeout():
		return "connect/join timed out"
	case errors.As(err, &hs):
		return string(hs)
	case errors.Is(err, errClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed before join"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connect ECONNREFUSED " + t.hostport
	case errors.Is(err, syscall.ECONNRESET):
		return "read ECONNRESET"
	}
	return err.Error()
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// keep reads a joined client until its connection ends (answering Engine.IO pings, as
// rawClient keeps doing after the join), then closes it.
func keep(conn *wsConn, done *sync.WaitGroup) {
	defer done.Done()
	defer conn.c.Close()
	for {
		data, err := conn.readMessage()
		if err != nil {
			return
		}
		if len(data) > 0 && data[0] == '2' { // Engine.IO ping
			if conn.writeText("3") != nil {
				return
			}
		}
	}
}
