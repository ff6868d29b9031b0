package usageledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config of a Client. Zero values take the defaults in brackets.
type Config struct {
	BaseURL        string        // the query API, e.g. "http://127.0.0.1:8080"
	APIKey         string        // sent as "Authorization: Bearer <APIKey>"
	BatchSize      int           // events per POST /v1/events [100]; batches also stay under 1 MiB
	MaxQueue       int           // events Record may hold unsent [10000]; past it, ErrQueueFull
	MaxRetries     int           // retries of a batch after the first attempt [8]; -1: none
	BackoffInitial time.Duration // first retry delay [50ms], doubled each retry, with jitter
	BackoffMax     time.Duration // longest retry delay [2s]
	Timeout        time.Duration // one HTTP attempt, connect to answer [10s]
	Wait           string        // "committed" (ledger verdicts) or "acknowledged" [committed]
	HTTPClient     *http.Client  // optional; its Timeout is left as it is
}

// Verdict statuses. With Wait "committed" every sent event ends accepted, duplicate, conflict or
// invalid; with "acknowledged", queued.
const (
	StatusAccepted  = "accepted"  // recorded now
	StatusDuplicate = "duplicate" // recorded before with the same key and payload: counted once
	StatusConflict  = "conflict"  // the key was recorded before with another payload: not counted
	StatusInvalid   = "invalid"   // the ledger refused it (Error says why): not counted
	StatusQueued    = "queued"    // Wait "acknowledged": in Kafka, verdict not awaited
)

// Verdict is the ledger's answer for one event. After a retry (a lost answer) an event the
// first attempt recorded answers duplicate: either way it is counted exactly once.
type Verdict struct {
	IdempotencyKey  string
	TenantID        string
	Status          string
	Error           string // the ledger's reason when Status is invalid ("bad_meter: ...")
	LedgerPartition int
	LedgerSequence  int64
	Attempts        int // POSTs that carried the event
}

var (
	// ErrQueueFull: Record found MaxQueue events unsent; the event was not queued.
	ErrQueueFull = errors.New("usageledger: queue full (MaxQueue events are waiting to be sent)")
	// ErrClosed: the client was closed; the event was not queued, or not sent.
	ErrClosed = errors.New("usageledger: client closed")
)

// HTTPError: the ledger refused a batch with an answer that retrying cannot change (401, 403,
// 413, a 400 other than invalid events). Nothing of the batch was recorded.
type HTTPError struct {
	StatusCode int
	Code       string // the answer's "error"
	Detail     string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("usageledger: HTTP %d %s: %s", e.StatusCode, e.Code, e.Detail)
}

// RetriesExhaustedError: every attempt failed (connection errors, 5xx, 429). The events may or
// may not be recorded: send them again with the same idempotency keys, they count once.
type RetriesExhaustedError struct {
	Attempts int
	Last     error
}

func (e *RetriesExhaustedError) Error() string {
	return fmt.Sprintf("usageledger: gave up after %d attempts: %v", e.Attempts, e.Last)
}

func (e *RetriesExhaustedError) Unwrap() error { return e.Last }

const maxBatchBytes = 1 << 20 // the ledger's request limit (1 MiB)

// Client sends events to the ledger's POST /v1/events. Safe for concurrent use by any number
// of goroutines. Record queues (bounded) for one background goroutine that batches and
// sends; Send sends synchronously in the caller's goroutine. Close it to stop that goroutine.
type Client struct {
	config   Config
	http     *http.Client
	endpoint string

	mu       sync.Mutex // guards closed, queue sends and recorded
	closed   bool
	queue    chan *Pending
	recorded uint64

	progressMu sync.Mutex
	completed  uint64
	progress   chan struct{} // closed and replaced whenever completed grows

	randomMu sync.Mutex
	random   *rand.Rand

	workerCtx    context.Context
	cancelWorker context.CancelFunc
	workerDone   chan struct{}
}

// Pending is an event Record queued; Wait for its verdict.
type Pending struct {
	key     string
	tenant  string
	message []byte
	done    chan struct{}
	verdict Verdict
	err     error
}

// Key is the event's idempotency key (generated when the event had none).
func (p *Pending) Key() string { return p.key }

// Wait blocks until the event's verdict is in, or ctx ends. The error is a *HTTPError, a
// *RetriesExhaustedError, ErrClosed, or ctx's error (the event is still being sent then).
func (p *Pending) Wait(ctx context.Context) (Verdict, error) {
	select {
	case <-p.done:
		return p.verdict, p.err
	case <-ctx.Done():
		return Verdict{}, ctx.Err()
	}
}

func (p *Pending) resolve(verdict Verdict, err error) {
	p.verdict, p.err = verdict, err
	close(p.done)
}

func withDefaults(config Config) (Config, error) {
	if config.BaseURL == "" {
		return config, errors.New("usageledger: Config.BaseURL is required")
	}
	defaultInt := func(value *int, fallback int) {
		if *value == 0 {
			*value = fallback
		}
	}
	defaultDuration := func(value *time.Duration, fallback time.Duration) {
		if *value == 0 {
			*value = fallback
		}
	}
	defaultInt(&config.BatchSize, 100)
	defaultInt(&config.MaxQueue, 10000)
	defaultInt(&config.MaxRetries, 8)
	defaultDuration(&config.BackoffInitial, 50*time.Millisecond)
	defaultDuration(&config.BackoffMax, 2*time.Second)
	defaultDuration(&config.Timeout, 10*time.Second)
	if config.Wait == "" {
		config.Wait = "committed"
	}
	if config.MaxRetries < 0 {
		config.MaxRetries = 0
	}
	switch {
	case config.BatchSize < 1 || config.BatchSize > 10000:
		return config, errors.New("usageledger: Config.BatchSize must be 1-10000")
	case config.MaxQueue < 1:
		return config, errors.New("usageledger: Config.MaxQueue must be positive")
	case config.BackoffInitial < 0 || config.BackoffMax < config.BackoffInitial:
		return config, errors.New("usageledger: need 0 <= BackoffInitial <= BackoffMax")
	case config.Wait != "committed" && config.Wait != "acknowledged":
		return config, errors.New(`usageledger: Config.Wait must be "committed" or "acknowledged"`)
	}
	return config, nil
}

// NewClient checks the configuration and starts the sending goroutine; Close stops it.
func NewClient(config Config) (*Client, error) {
	config, err := withDefaults(config)
	if err != nil {
		return nil, err
	}
	httpClient := config.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Timeout: config.Timeout}
	}
	workerCtx, cancel := context.WithCancel(context.Background())
	client := &Client{
		config:       config,
		http:         httpClient,
		endpoint:     strings.TrimRight(config.BaseURL, "/") + "/v1/events?wait=" + config.Wait,
		queue:        make(chan *Pending, config.MaxQueue),
		progress:     make(chan struct{}),
		random:       rand.New(rand.NewSource(time.Now().UnixNano())),
		workerCtx:    workerCtx,
		cancelWorker: cancel,
		workerDone:   make(chan struct{}),
	}
	go client.run()
	return client, nil
}

// prepare fills the defaults (key, timestamp) and validates: the message to send.
func prepare(event Event, now time.Time) (Event, []byte, *InvalidEventError) {
	if event.IdempotencyKey == "" {
		event.IdempotencyKey = NewUUIDv7()
	}
	if event.Timestamp.IsZero() {
		event.Timestamp = now
	}
	message, problem := encodeEvent(&event)
	if problem != nil {
		return event, nil, problem
	}
	if _, problem := validateMessage(message, timeToMicros(now)); problem != nil {
		return event, nil, problem
	}
	return event, message, nil
}

// Record validates an event and queues it for the background goroutine; it never blocks on
// the network. Errors: *InvalidEventError (nothing queued), ErrQueueFull, ErrClosed, ctx's.
func (c *Client) Record(ctx context.Context, event Event) (*Pending, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	event, message, problem := prepare(event, time.Now())
	if problem != nil {
		return nil, problem
	}
	pending := &Pending{key: event.IdempotencyKey, tenant: event.TenantID, message: message,
		done: make(chan struct{})}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	select {
	case c.queue <- pending:
		c.recorded++
		return pending, nil
	default:
		return nil, ErrQueueFull
	}
}

// Flush waits until every event recorded before the call has its verdict (or error), or ctx
// ends.
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	target := c.recorded
	c.mu.Unlock()
	for {
		c.progressMu.Lock()
		completed, progress := c.completed, c.progress
		c.progressMu.Unlock()
		if completed >= target {
			return nil
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops taking events, sends what is queued (each batch bounded by its retries) and
// stops the goroutine. Shutdown bounds that with a context.
func (c *Client) Close() error { return c.Shutdown(context.Background()) }

// Shutdown stops taking events and sends what is queued until ctx ends; what is still unsent
// then ends with ErrClosed. Returns ctx's error if it ended first.
func (c *Client) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.queue)
	}
	c.mu.Unlock()
	select {
	case <-c.workerDone:
		return nil
	case <-ctx.Done():
		c.cancelWorker()
		<-c.workerDone
		return ctx.Err()
	}
}

func (c *Client) markCompleted(count int) {
	c.progressMu.Lock()
	c.completed += uint64(count)
	close(c.progress)
	c.progress = make(chan struct{})
	c.progressMu.Unlock()
}

// run is the sending goroutine: batches of what is queued (BatchSize events, under 1 MiB),
// one at a time, each retried until it has its verdicts or gives up.
func (c *Client) run() {
	defer close(c.workerDone)
	defer c.cancelWorker()
	var carried *Pending
	open := true
	for open || carried != nil {
		first := carried
		carried = nil
		if first == nil {
			var ok bool
			if first, ok = <-c.queue; !ok {
				return
			}
		}
		batch := []*Pending{first}
		size := len(first.message) + 2
	drain:
		for len(batch) < c.config.BatchSize {
			select {
			case next, ok := <-c.queue:
				if !ok {
					open = false
					break drain
				}
				if size+len(next.message)+1 > maxBatchBytes {
					carried = next
					break drain
				}
				batch = append(batch, next)
				size += len(next.message) + 1
			default:
				break drain
			}
		}
		c.deliverBatch(batch)
	}
}

func (c *Client) deliverBatch(batch []*Pending) {
	messages := make([][]byte, len(batch))
	for i, pending := range batch {
		messages[i] = pending.message
	}
	outcomes := c.sendBatch(c.workerCtx, messages)
	for i, pending := range batch {
		outcome := outcomes[i]
		if errors.Is(outcome.err, context.Canceled) && c.workerCtx.Err() != nil {
			outcome.err = ErrClosed
		}
		outcome.verdict.IdempotencyKey, outcome.verdict.TenantID = pending.key, pending.tenant
		pending.resolve(outcome.verdict, outcome.err)
	}
	c.markCompleted(len(batch))
}

// Send validates every event (nothing is sent if one is invalid: the *InvalidEventError's
// Index says which), then sends them in batches in the caller's goroutine, with retries.
// Verdicts are in the events' order; on error, the verdicts of the batches that finished.
func (c *Client) Send(ctx context.Context, events []Event) ([]Verdict, error) {
	now := time.Now()
	messages := make([][]byte, len(events))
	verdicts := make([]Verdict, len(events))
	for i, event := range events {
		prepared, message, problem := prepare(event, now)
		if problem != nil {
			problem.Index = i
			return nil, problem
		}
		messages[i] = message
		verdicts[i].IdempotencyKey, verdicts[i].TenantID = prepared.IdempotencyKey, prepared.TenantID
	}
	start := 0
	for start < len(messages) {
		end, size := start, 2
		for end < len(messages) && end-start < c.config.BatchSize &&
			(end == start || size+len(messages[end])+1 <= maxBatchBytes) {
			size += len(messages[end]) + 1
			end++
		}
		outcomes := c.sendBatch(ctx, messages[start:end])
		var firstErr error
		for i, outcome := range outcomes {
			key, tenant := verdicts[start+i].IdempotencyKey, verdicts[start+i].TenantID
			verdicts[start+i] = outcome.verdict
			verdicts[start+i].IdempotencyKey, verdicts[start+i].TenantID = key, tenant
			if outcome.err != nil && firstErr == nil {
				firstErr = outcome.err
			}
		}
		if firstErr != nil {
			return verdicts[:start], firstErr
		}
		start = end
	}
	return verdicts, nil
}

type outcome struct {
	verdict Verdict
	err     error
	done    bool
}

type ingestAnswer struct {
	Error  string `json:"error"`
	Detail string `json:"detail"`
	Events []struct {
		Index           int    `json:"index"`
		Status          string `json:"status"`
		Error           string `json:"error"`
		LedgerPartition int    `json:"ledger_partition"`
		LedgerSequence  int64  `json:"ledger_sequence"`
	} `json:"events"`
}

func isFinal(status, wait string) bool {
	switch status {
	case StatusAccepted, StatusDuplicate, StatusConflict, StatusInvalid:
		return true
	case StatusQueued:
		return wait == "acknowledged"
	}
	return false // failed, pending: send again
}

// sendBatch posts messages until each has a final verdict or an error: connection errors,
// 5xx and 429 are retried (the events still without a final verdict, same keys) with
// exponential backoff and jitter, at most MaxRetries times.
func (c *Client) sendBatch(ctx context.Context, messages [][]byte) []outcome {
	outcomes := make([]outcome, len(messages))
	remaining := make([]int, len(messages))
	for i := range remaining {
		remaining[i] = i
	}
	for attempt := 1; ; attempt++ {
		for _, index := range remaining {
			outcomes[index].verdict.Attempts = attempt
		}
		status, answer, retryAfter, err := c.post(ctx, messages, remaining)
		if err == nil && !retryable(status) && status != http.StatusOK &&
			status != http.StatusAccepted && !(status == http.StatusBadRequest &&
			answer.Error == "invalid_events") {
			err = &HTTPError{StatusCode: status, Code: answer.Error, Detail: answer.Detail}
			failAll(outcomes, remaining, err)
			return outcomes
		}
		if err == nil {
			for _, event := range answer.Events {
				if event.Index < 0 || event.Index >= len(remaining) ||
					!isFinal(event.Status, c.config.Wait) {
					continue
				}
				target := &outcomes[remaining[event.Index]]
				target.done = true
				target.verdict.Status, target.verdict.Error = event.Status, event.Error
				target.verdict.LedgerPartition = event.LedgerPartition
				target.verdict.LedgerSequence = event.LedgerSequence
			}
			err = fmt.Errorf("HTTP %d %s: %s", status, answer.Error, answer.Detail)
		}
		remaining = stillOpen(outcomes, remaining)
		if len(remaining) == 0 {
			return outcomes
		}
		if ctx.Err() != nil {
			failAll(outcomes, remaining, ctx.Err())
			return outcomes
		}
		if attempt > c.config.MaxRetries {
			failAll(outcomes, remaining, &RetriesExhaustedError{Attempts: attempt, Last: err})
			return outcomes
		}
		if !c.sleep(ctx, c.backoff(attempt, retryAfter)) {
			failAll(outcomes, remaining, ctx.Err())
			return outcomes
		}
	}
}

func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

func stillOpen(outcomes []outcome, indices []int) []int {
	open := indices[:0:0]
	for _, index := range indices {
		if !outcomes[index].done {
			open = append(open, index)
		}
	}
	return open
}

func failAll(outcomes []outcome, indices []int, err error) {
	for _, index := range indices {
		outcomes[index].err, outcomes[index].done = err, true
	}
}

// backoff: BackoffInitial·2^(attempt-1) capped at BackoffMax, half of it random ("equal
// jitter"), and never less than the server's Retry-After (itself capped at 30 s).
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	delay := c.config.BackoffInitial
	for step := 1; step < attempt && delay < c.config.BackoffMax; step++ {
		delay *= 2
	}
	if delay > c.config.BackoffMax {
		delay = c.config.BackoffMax
	}
	if half := int64(delay / 2); half > 0 {
		c.randomMu.Lock()
		delay = time.Duration(half + c.random.Int63n(half+1))
		c.randomMu.Unlock()
	}
	if retryAfter > 30*time.Second {
		retryAfter = 30 * time.Second
	}
	if retryAfter > delay {
		delay = retryAfter
	}
	return delay
}

func (c *Client) sleep(ctx context.Context, delay time.Duration) bool {
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// post sends the messages at indices as one JSON array. err: the request did not get an
// answer (connection refused or cut, timeout); a retryable failure.
func (c *Client) post(ctx context.Context, messages [][]byte, indices []int) (
	int, ingestAnswer, time.Duration, error) {
	var answer ingestAnswer
	body := make([]byte, 0, 256*len(indices))
	body = append(body, '[')
	for i, index := range indices {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, messages[index]...)
	}
	body = append(body, ']')
	request, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint,
		bytes.NewReader(body))
	if err != nil {
		return 0, answer, 0, err
	}
	request.Header.Set("Content-Type", "application/json")
	if c.config.APIKey != "" {
		request.Header.Set("Authorization", "Bearer "+c.config.APIKey)
	}
	response, err := c.http.Do(request)
	if err != nil {
		return 0, answer, 0, err
	}
	defer response.Body.Close()
	text, err := io.ReadAll(io.LimitReader(response.Body, 16<<20))
	if err != nil {
		return 0, answer, 0, err
	}
	retryAfter := time.Duration(0)
	if seconds, err := strconv.Atoi(response.Header.Get("Retry-After")); err == nil && seconds > 0 {
		retryAfter = time.Duration(seconds) * time.Second
	}
	if err := json.Unmarshal(text, &answer); err != nil && !retryable(response.StatusCode) {
		answer.Error, answer.Detail = "bad_answer", "not the ledger's JSON: "+utf8Prefix(string(text), 200)
	}
	return response.StatusCode, answer, retryAfter, nil
}
