package main

// A minimal RFC 6455 WebSocket client: what the join storm needs and nothing more. Client frames
// are masked (section 5.3), server frames are read whole (fragmented messages reassembled),
// pings are answered with pongs and a close frame with a close, as the `ws` package the Node
// generator uses does. No extensions: permessage-deflate is off on both sides, as in
// joinstorm.js (`perMessageDeflate: false`).

import (
	"bufio"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA

	acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
	// A message larger than this is a broken server, not a join storm.
	maxMessage = 16 << 20
)

// errClosed: the server closed the WebSocket (a close frame; ours answered it).
var errClosed = errors.New("websocket closed")

// errHandshake: the HTTP upgrade failed; the text is what `ws` reports for the same case.
type errHandshake string

func (e errHandshake) Error() string { return string(e) }

// target is one --url, resolved once: where to dial and what to ask for.
type target struct {
	raw      string // as given, for error messages (joinstorm.js prefixes them with it)
	hostport string // host:port to dial
	host     string // the Host header
	path     string // request target: /socket.io/?EIO=4&transport=websocket
	tls      bool
}

type wsConn struct {
	c         net.Conn
	r         *bufio.Reader
	wmu       sync.Mutex // writes come from the client's goroutine and from the final close
	closeSent int32      // atomic: our close frame went out
	msg       []byte     // the message being read (reused)
	ctl       [125]byte  // a control frame's payload
}

// dialWS opens the TCP connection and performs the opening handshake (RFC 6455 section 4.1),
// all before `deadline`.
func dialWS(t *target, deadline time.Time) (*wsConn, error) {
	dialer := net.Dialer{Deadline: deadline}
	var c net.Conn
	var err error
	if t.tls {
		c, err = tls.DialWithDialer(&dialer, "tcp", t.hostport, &tls.Config{ServerName: hostOnly(t.hostport)})
	} else {
		c, err = dialer.Dial("tcp", t.hostport)
	}
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(deadline); err != nil {
		c.Close()
		return nil, err
	}
	var nonce [16]byte
	binary.LittleEndian.PutUint64(nonce[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(nonce[8:], rand.Uint64())
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + t.path + " HTTP/1.1\r\nHost: " + t.host +
		"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
		key + "\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	ws := &wsConn{c: c, r: bufio.NewReaderSize(c, 1024)}
	if err := ws.readUpgrade(key); err != nil {
		c.Close()
		return nil, err
	}
	return ws, nil
}

func hostOnly(hostport string) string {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return host
}

// readLine: one CRLF-terminated header line (without it), however long.
func (w *wsConn) readLine() (string, error) {
	var long []byte
	for {
		part, err := w.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, part...)
			continue
		}
		if err != nil {
			if err == io.EOF {
				return "", errHandshake("socket hang up")
			}
			return "", err
		}
		if long != nil {
			part = append(long, part...)
		}
		return strings.TrimRight(string(part), "\r\n"), nil
	}
}

// readUpgrade checks the server's answer as `ws` does: status 101, `Upgrade: websocket`, and
// the Sec-WebSocket-Accept derived from our key.
func (w *wsConn) readUpgrade(key string) error {
	status, err := w.readLine()
	if err != nil {
		return err
	}
	fields := strings.SplitN(status, " ", 3)
	if len(fields) < 2 {
		return errHandshake("Invalid HTTP response: " + status)
	}
	code, err := strconv.Atoi(fields[1])
	if err != nil {
		return errHandshake("Invalid HTTP response: " + status)
	}
	upgrade, accept := "", ""
	for {
		line, err := w.readLine()
		if err != nil {
			return err
		}
		if line == "" {
			break
		}
		name, value, found := strings.Cut(line, ":")
		if !found {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "upgrade":
			upgrade = strings.TrimSpace(value)
		case "sec-websocket-accept":
			accept = strings.TrimSpace(value)
		}
	}
	if code != 101 {
		return errHandshake(fmt.Sprintf("Unexpected server response: %d", code))
	}
	if !strings.EqualFold(upgrade, "websocket") {
		return errHandshake("Invalid Upgrade header")
	}
	sum := sha1.Sum([]byte(key + acceptGUID))
	if accept != base64.StdEncoding.EncodeToString(sum[:]) {
		return errHandshake("Invalid Sec-WebSocket-Accept header")
	}
	return nil
}

// writeFrame sends one final, masked frame.
func (w *wsConn) writeFrame(op byte, payload []byte) error {
	n := len(payload)
	buf := make([]byte, 0, 14+n)
	buf = append(buf, 0x80|op)
	switch {
	case n < 126:
		buf = append(buf, 0x80|byte(n))
	case n < 1<<16:
		buf = append(buf, 0x80|126, byte(n>>8), byte(n))
	default:
		buf = append(buf, 0x80|127)
		buf = binary.BigEndian.AppendUint64(buf, uint64(n))
	}
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], rand.Uint32())
	buf = append(buf, mask[:]...)
	start := len(buf)
	buf = append(buf, payload...)
	for i := range payload {
		buf[start+i] ^= mask[i&3]
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	_, err := w.c.Write(buf)
	return err
}

func (w *wsConn) writeText(s string) error { return w.writeFrame(opText, []byte(s)) }

// sendClose starts (or answers) the closing handshake, once. `payload` is the status code to
// echo, or empty (what `ws.close()` sends without a code).
func (w *wsConn) sendClose(payload []byte) {
	if atomic.CompareAndSwapInt32(&w.closeSent, 0, 1) {
		_ = w.writeFrame(opClose, payload)
	}
}

// readMessage returns the next data message (text or binary), answering control frames on the
// way; errClosed once the server's close frame arrives. The slice is valid until the next call.
func (w *wsConn) readMessage() ([]byte, error) {
	w.msg = w.msg[:0]
	for {
		var head [2]byte
		if _, err := io.ReadFull(w.r, head[:]); err != nil {
			return nil, err
		}
		fin, op := head[0]&0x80 != 0, head[0]&0x0f
		masked := head[1]&0x80 != 0
		n := uint64(head[1] & 0x7f)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(w.r, ext[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(w.r, ext[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		if masked { // `ws` fails the connection the same way
			return nil, errors.New("MASK must be clear")
		}
		var payload []byte
		if op >= opClose {
			if n > uint64(len(w.ctl)) || !fin {
				return nil, errors.New("invalid control frame")
			}
			payload = w.ctl[:n]
		} else {
			if uint64(len(w.msg))+n > maxMessage {
				return nil, errors.New("message too large")
			}
			start := len(w.msg)
			w.msg = append(w.msg, make([]byte, n)...)
			payload = w.msg[start:]
		}
		if _, err := io.ReadFull(w.r, payload); err != nil {
			return nil, err
		}
		switch op {
		case opPing:
			_ = w.writeFrame(opPong, payload)
		case opPong:
		case opClose:
			code := payload
			if len(code) > 2 {
				code = code[:2]
			}
			w.sendClose(code)
			return nil, errClosed
		case opText, opBinary, opContinuation:
			if fin {
				return w.msg, nil
			}
		default:
			return nil, fmt.Errorf("invalid opcode %d", op)
		}
	}
}
