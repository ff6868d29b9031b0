package usageledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeLedger answers POST /v1/events like the ledger (wait=committed), remembering each
// (tenant, key) once. answer lets a test replace an attempt's answer.
type fakeLedger struct {
	mu       sync.Mutex
	seen     map[string]string // tenant/key → quantity
	requests int
	batches  []int
	answer   func(attempt int, w http.ResponseWriter) bool // true: answered, skip the ledger
}

func newFakeLedger(t *testing.T) (*fakeLedger, *httptest.Server) {
	ledger := &fakeLedger{seen: map[string]string{}}
	server := httptest.NewServer(http.HandlerFunc(ledger.serve))
	t.Cleanup(server.Close)
	return ledger, server
}

func (l *fakeLedger) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests++
	if r.Header.Get("Authorization") != "Bearer key-1" || r.URL.Query().Get("wait") != "committed" {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"unauthorized","detail":"bad key"}`)
		return
	}
	if l.answer != nil && l.answer(l.requests, w) {
		return
	}
	var events []map[string]any
	if err := json.Unmarshal(body, &events); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	l.batches = append(l.batches, len(events))
	type verdict struct {
		Index  int    `json:"index"`
		Status string `json:"status"`
	}
	answer := struct {
		Durability string    `json:"durability"`
		Events     []verdict `json:"events"`
	}{Durability: "ledger"}
	for index, event := range events {
		id := event["tenant_id"].(string) + "/" + event["idempotency_key"].(string)
		quantity := event["quantity"].(string)
		status := StatusAccepted
		if previous, ok := l.seen[id]; ok {
			status = StatusDuplicate
			if previous != quantity {
				status = StatusConflict
			}
		} else {
			l.seen[id] = quantity
		}
		answer.Events = append(answer.Events, verdict{index, status})
	}
	_ = json.NewEncoder(w).Encode(answer)
}

func testConfig(url string) Config {
	return Config{BaseURL: url, APIKey: "key-1", BackoffInitial: time.Millisecond,
		BackoffMax: 4 * time.Millisecond, Timeout: 5 * time.Second}
}

func waitContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRecordBatchesAndReturnsVerdicts(t *testing.T) {
	ledger, server := newFakeLedger(t)
	config := testConfig(server.URL)
	config.BatchSize = 7
	client, err := NewClient(config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := waitContext(t)
	var pendings []*Pending
	for i := 0; i < 50; i++ {
		pending, err := client.Record(ctx, Event{TenantID: "acme", Meter: "tokens",
			Quantity: "1.50", IdempotencyKey: fmt.Sprintf("k-%d", i%40)})
		if err != nil {
			t.Fatal(err)
		}
		pendings = append(pendings, pending)
	}
	if err := client.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i, pending := range pendings {
		verdict, err := pending.Wait(ctx)
		want := StatusAccepted
		if i >= 40 {
			want = StatusDuplicate
		}
		if err != nil || verdict.Status != want || verdict.IdempotencyKey != pending.Key() {
			t.Fatalf("event %d: %+v, %v; want %s", i, verdict, err, want)
		}
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	for _, size := range ledger.batches {
		if size > 7 {
			t.Fatalf("a batch of %d events (BatchSize 7)", size)
		}
	}
	if _, err := client.Record(ctx, Event{TenantID: "acme", Meter: "tokens", Quantity: "1"}); err != ErrClosed {
		t.Fatalf("Record after Close: %v", err)
	}
}

func TestRecordValidatesFirst(t *testing.T) {
	_, server := newFakeLedger(t)
	client, _ := NewClient(testConfig(server.URL))
	defer client.Close()
	cases := map[string]Event{
		ReasonBadTenant:     {TenantID: "a b", Meter: "tokens", Quantity: "1"},
		ReasonBadMeter:      {TenantID: "acme", Meter: "Tokens", Quantity: "1"},
		ReasonBadQuantity:   {TenantID: "acme", Meter: "tokens", Quantity: "1.1234567"},
		ReasonBadTimestamp:  {TenantID: "acme", Meter: "tokens", Quantity: "1", Timestamp: time.Now().Add(time.Hour)},
		ReasonBadProperties: {TenantID: "acme", Meter: "tokens", Quantity: "1", Properties: map[string]any{"a": []any{1}}},
		ReasonBadKey:        {TenantID: "acme", Meter: "tokens", Quantity: "1", IdempotencyKey: strings.Repeat("k", 129)},
	}
	for reason, event := range cases {
		_, err := client.Record(context.Background(), event)
		var problem *InvalidEventError
		if !errors.As(err, &problem) || problem.Reason != reason {
			t.Errorf("want %s, got %v", reason, err)
		}
	}
}

func TestRetriesKeepKeysAndCountOnce(t *testing.T) {
	ledger, server := newFakeLedger(t)
	ledger.answer = func(attempt int, w http.ResponseWriter) bool {
		switch attempt {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"ledger_unavailable","detail":"x"}`)
			return true
		case 2:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		case 3: // the connection is cut before an answer
			hijacked, _, _ := w.(http.Hijacker).Hijack()
			hijacked.Close()
			return true
		}
		return false
	}
	client, _ := NewClient(testConfig(server.URL))
	defer client.Close()
	verdicts, err := client.Send(waitContext(t), []Event{
		{TenantID: "acme", Meter: "tokens", Quantity: "2", IdempotencyKey: "a"},
		{TenantID: "acme", Meter: "tokens", Quantity: "3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, verdict := range verdicts {
		if verdict.Status != StatusAccepted || verdict.Attempts != 4 {
			t.Fatalf("%+v", verdict)
		}
	}
	if verdicts[0].IdempotencyKey != "a" || len(verdicts[1].IdempotencyKey) != 36 {
		t.Fatalf("keys %q %q", verdicts[0].IdempotencyKey, verdicts[1].IdempotencyKey)
	}
}

func TestPartialAnswerRetriesOnlyTheOpenEvents(t *testing.T) {
	ledger, server := newFakeLedger(t)
	ledger.answer = func(attempt int, w http.ResponseWriter) bool {
		if attempt != 1 {
			return false
		}
		w.WriteHeader(http.StatusGatewayTimeout)
		fmt.Fprint(w, `{"durability":"ledger","events":[{"index":0,"status":"accepted"},{"index":1,"status":"pending"}]}`)
		return true
	}
	client, _ := NewClient(testConfig(server.URL))
	defer client.Close()
	verdicts, err := client.Send(waitContext(t), []Event{
		{TenantID: "acme", Meter: "tokens", Quantity: "2"},
		{TenantID: "acme", Meter: "tokens", Quantity: "3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if verdicts[0].Attempts != 1 || verdicts[1].Attempts != 2 || ledger.batches[0] != 1 {
		t.Fatalf("%+v, batches %v", verdicts, ledger.batches)
	}
}

func TestPermanentErrorsAndExhaustedRetries(t *testing.T) {
	ledger, server := newFakeLedger(t)
	ledger.answer = func(attempt int, w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusInternalServerError)
		return true
	}
	config := testConfig(server.URL)
	config.MaxRetries = 3
	client, _ := NewClient(config)
	defer client.Close()
	_, err := client.Send(waitContext(t), []Event{{TenantID: "acme", Meter: "tokens", Quantity: "1"}})
	var exhausted *RetriesExhaustedError
	if !errors.As(err, &exhausted) || exhausted.Attempts != 4 || ledger.requests != 4 {
		t.Fatalf("%v after %d requests", err, ledger.requests)
	}

	config.APIKey = "wrong"
	unauthorized, _ := NewClient(config)
	defer unauthorized.Close()
	pending, err := unauthorized.Record(context.Background(), Event{TenantID: "acme", Meter: "tokens", Quantity: "1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pending.Wait(waitContext(t))
	var httpError *HTTPError
	if !errors.As(err, &httpError) || httpError.StatusCode != 401 || httpError.Code != "unauthorized" {
		t.Fatalf("%v", err)
	}
}

func TestInvalidEventsAnswer(t *testing.T) {
	ledger, server := newFakeLedger(t)
	ledger.answer = func(attempt int, w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_events","detail":"d","events":[{"index":0,"status":"invalid","error":"bad_timestamp: late"}]}`)
		return true
	}
	client, _ := NewClient(testConfig(server.URL))
	defer client.Close()
	verdicts, err := client.Send(waitContext(t), []Event{{TenantID: "acme", Meter: "tokens", Quantity: "1"}})
	if err != nil || verdicts[0].Status != StatusInvalid || verdicts[0].Error != "bad_timestamp: late" {
		t.Fatalf("%+v %v", verdicts, err)
	}
}

func TestQueueFullAndShutdown(t *testing.T) {
	release := make(chan struct{})
	ledger, server := newFakeLedger(t)
	ledger.answer = func(attempt int, w http.ResponseWriter) bool {
		<-release
		return false
	}
	config := testConfig(server.URL)
	config.MaxQueue, config.BatchSize = 3, 1
	client, _ := NewClient(config)
	event := Event{TenantID: "acme", Meter: "tokens", Quantity: "1"}
	// One event may be in flight (taken from the queue); the queue then holds 3 more.
	var full error
	for i := 0; i < 5 && full == nil; i++ {
		_, full = client.Record(context.Background(), event)
	}
	if full != ErrQueueFull {
		t.Fatalf("want ErrQueueFull, got %v", full)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := client.Flush(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Flush: %v", err)
	}
	close(release)
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if err := client.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestShutdownDeadlineFailsUnsentEvents(t *testing.T) {
	ledger, server := newFakeLedger(t)
	ledger.answer = func(attempt int, w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	}
	config := testConfig(server.URL)
	config.BackoffInitial, config.BackoffMax = time.Second, time.Second
	client, _ := NewClient(config)
	pending, _ := client.Record(context.Background(), Event{TenantID: "acme", Meter: "tokens", Quantity: "1"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := client.Shutdown(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := pending.Wait(context.Background()); err != ErrClosed {
		t.Fatalf("Wait: %v", err)
	}
}
