// Command stormgen: the join storm of bench/fanout/joinstorm.js, in Go.
//
// --clients WebSocket Socket.IO clients (guests, or signed in with --token-file's tokens;
// spread over the --url values) connect and `join` one room, at most --concurrency in flight
// (default: all at once). Every client does the protocol work joinstorm.js's does (lib.js
// rawClient): its own TCP connection and WebSocket handshake, the Engine.IO open, a Socket.IO
// CONNECT (with `{"token": ...}` when signed in), `join` with an ack id and the wait for that
// ack, pings answered. Only the generator's own cost differs: joinstorm.js needs ~0.4-0.5 ms of
// CPU per client, a whole core for a 10,000-client storm on a 2-core machine, so the storm ran at
// its pace whatever the server. Prints the same JSON line:
//
//		{"type": "joinstorm", clients, concurrency, joined, refused, join_failed, all_joined_s,
//		 join_ack_ms: {p50, p99, max}, connect_join_ms: {p50, p99}, errors}
//
//	  - all_joined_s: from the first connect attempt until the last join ack;
//	  - join_ack_ms: from sending `join` to its ack, per client;
//	  - connect_join_ms: from opening the WebSocket to the join ack, per client;
//	  - refused: connections that never completed the Engine.IO handshake (TCP refused, reset,
//	    timed out); join_failed: connected but the join was refused or never acked.
//
// Every client is closed at the end. Exit status 0 even when some failed: the caller judges.
//
//	stormgen --url http://127.0.0.1:8301 --stream-id 1 --clients 3000 [--concurrency 500]
//	    [--timeout 30] [--token-file tokens.json]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/big"
	"net"
	"net/url"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type urlList []string

func (u *urlList) String() string     { return strings.Join(*u, ",") }
func (u *urlList) Set(v string) error { *u = append(*u, v); return nil }

type ackStats struct {
	P50 *float64 `json:"p50"`
	P99 *float64 `json:"p99"`
	Max *float64 `json:"max"`
}

type connectJoinStats struct {
	P50 *float64 `json:"p50"`
	P99 *float64 `json:"p99"`
}

type line struct {
	Type          string           `json:"type"`
	Clients       int              `json:"clients"`
	Concurrency   int              `json:"concurrency"`
	Joined        int              `json:"joined"`
	Refused       int              `json:"refused"`
	JoinFailed    int              `json:"join_failed"`
	AllJoinedS    float64          `json:"all_joined_s"`
	JoinAckMs     ackStats         `json:"join_ack_ms"`
	ConnectJoinMs connectJoinStats `json:"connect_join_ms"`
	Errors        []string         `json:"errors"`
}

func main() {
	var urls urlList
	flag.Var(&urls, "url", "server URL (repeat to spread the clients over several)")
	streamID := flag.String("stream-id", "1", "the stream to join")
	clients := flag.Int("clients", 1000, "clients")
	concurrency := flag.String("concurrency", "", "clients in flight (default: all at once)")
	timeoutS := flag.Float64("timeout", 30, "seconds each client may take to connect and join")
	tokenFile := flag.String("token-file", "", "JSON list of access tokens: client i signs in with token i (modulo)")
	flag.Parse()
	if os.Getenv("GOGC") == "" {
		// Fewer collections of a heap that only grows during the storm (~90 MB at 10,000
		// clients instead of ~78): ~0.01 ms less CPU per client, an eighth of the generator's.
		debug.SetGCPercent(400)
	}
	if len(urls) == 0 {
		urls = urlList{"http://127.0.0.1:8301"}
	}
	total := *clients
	inFlight := total
	if *concurrency != "" {
		n, err := strconv.Atoi(*concurrency)
		if err != nil {
			fatal("--concurrency: %v", err)
		}
		inFlight = n
	}
	if inFlight < 1 {
		inFlight = 1
	}
	targets := make([]*target, len(urls))
	for i, raw := range urls {
		t, err := parseTarget(raw)
		if err != nil {
			fatal("--url %s: %v", raw, err)
		}
		targets[i] = t
	}
	id, err := strconv.ParseFloat(*streamID, 64)
	if err != nil {
		fatal("--stream-id: %v", err)
	}
	idJSON, _ := json.Marshal(id)
	joinPacket := `420["join",{"stream_id":` + string(idJSON) + `}]`
	var tokens []json.RawMessage
	if *tokenFile != "" {
		data, err := os.ReadFile(*tokenFile)
		if err == nil {
			err = json.Unmarshal(data, &tokens)
		}
		if err == nil && len(tokens) == 0 {
			err = fmt.Errorf("no tokens")
		}
		if err != nil {
			fatal("--token-file: %v", err)
		}
	}
	timeout := time.Duration(*timeoutS * float64(time.Second))

	started := time.Now()
	results := make([]outcome, total)
	var next int64 = -1
	var lanes sync.WaitGroup
	// Joined clients stay open and keep reading until the end (the room's `viewers`, Engine.IO
	// pings), like rawClient's.
	var kept sync.WaitGroup
	for lane := 0; lane < inFlight && lane < total; lane++ {
		lanes.Add(1)
		go func() {
			defer lanes.Done()
			for {
				i := int(atomic.AddInt64(&next, 1))
				if i >= total {
					return
				}
				connect := "40"
				if tokens != nil {
					connect = `40{"token":` + string(tokens[i%len(tokens)]) + `}`
				}
				results[i] = joinClient(targets[i%len(targets)], connect, joinPacket, timeout)
				if results[i].ok {
					kept.Add(1)
					go keep(results[i].conn, &kept)
				}
			}
		}()
	}
	lanes.Wait()

	lastAck := started
	var joinMs, totalMs []float64
	refused := 0
	for _, r := range results {
		switch {
		case r.ok:
			if r.ackAt.After(lastAck) {
				lastAck = r.ackAt
			}
			joinMs = append(joinMs, r.joinMs)
			totalMs = append(totalMs, r.totalMs)
		case r.refused:
			refused++
		}
	}
	out := line{
		Type:          "joinstorm",
		Clients:       total,
		Concurrency:   inFlight,
		Joined:        len(joinMs),
		Refused:       refused,
		JoinFailed:    total - len(joinMs) - refused,
		AllJoinedS:    roundTo(lastAck.Sub(started).Seconds(), 2),
		JoinAckMs:     ackStats{pct(joinMs, 50), pct(joinMs, 99), pct(joinMs, 100)},
		ConnectJoinMs: connectJoinStats{pct(totalMs, 50), pct(totalMs, 99)},
		Errors:        errorSummary(results, 3),
	}
	for _, r := range results {
		if r.ok {
			r.conn.sendClose(nil) // ws.close(): a close frame without a status code
		}
	}
	encoded, err := json.Marshal(out)
	if err != nil {
		fatal("%v", err)
	}
	os.Stdout.Write(append(encoded, '\n'))
	// As joinstorm.js: give the closes 0.2 s (here: until every server answered, at most that).
	closed := make(chan struct{})
	go func() { kept.Wait(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(200 * time.Millisecond):
	}
	os.Exit(0)
}

func parseTarget(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	t := &target{raw: raw, host: u.Host, hostport: u.Host}
	switch u.Scheme {
	case "http", "ws":
	case "https", "wss":
		t.tls = true
	default:
		return nil, fmt.Errorf("unsupported scheme %q", u.Scheme)
	}
	if u.Port() == "" {
		port := "80"
		if t.tls {
			port = "443"
		}
		t.hostport = net.JoinHostPort(u.Hostname(), port)
	}
	t.path = strings.TrimSuffix(u.EscapedPath(), "/") + "/socket.io/?EIO=4&transport=websocket"
	return t, nil
}

// pct: the p-th percentile (nearest rank) in ms with 1 decimal, nil if none (joinstorm.js).
func pct(values []float64, p float64) *float64 {
	if len(values) == 0 {
		return nil
	}
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	n := len(sorted)
	rank := int(math.Min(float64(n-1), math.Max(0, math.Ceil((p/100)*float64(n))-1)))
	v := roundTo(sorted[rank], 1)
	return &v
}

// roundTo rounds as JavaScript's `+x.toFixed(digits)` does: the exact binary value to the
// nearest, halves up (strconv would round halves to even).
func roundTo(x float64, digits int) float64 {
	scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil))
	r := new(big.Rat).SetFloat64(x)
	r.Mul(r, scale)
	r.Add(r, big.NewRat(1, 2))
	n := new(big.Int).Div(r.Num(), r.Denom()) // floor for non-negative x
	f, _ := new(big.Rat).SetFrac(n, scale.Num()).Float64()
	return f
}

// errorSummary: the first `limit` distinct error messages (cut to 160 characters) with their
// counts, in the order they first occur (lib.js errorSummary).
func errorSummary(results []outcome, limit int) []string {
	counts := map[string]int{}
	var order []string
	for _, r := range results {
		if r.ok {
			continue
		}
		key := r.err
		if runes := []rune(key); len(runes) > 160 {
			key = string(runes[:160])
		}
		if counts[key] == 0 {
			order = append(order, key)
		}
		counts[key]++
	}
	summary := []string{}
	for _, key := range order {
		if len(summary) == limit {
			break
		}
		summary = append(summary, fmt.Sprintf("%dx %s", counts[key], key))
	}
	return summary
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "stormgen: "+format+"\n", args...)
	os.Exit(1)
}
