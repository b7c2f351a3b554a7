package agent

// Store-and-forward delivery of a zone's results to the central assessment
// tool. QueueDelivery renders every configured export target's format for
// a scan and puts the files into the store's outbox; nothing is sent yet.
// Deliver then tries each due item once, acknowledges (removes) what the
// target took, and records an attempt, an error and an exponential backoff
// for what it did not. The outbox lives in the store, so results survive an
// endpoint that is down, slow or failing and a restart of the agent; the
// store is only held open for the short bookkeeping steps, never while a
// request is in flight.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent/export"
	"github.com/otaudit/otaudit/configs"
	"github.com/otaudit/otaudit/store"
)

// Delivery defaults.
const (
	DefaultInitialBackoff = 30 * time.Second
	DefaultMaxBackoff     = time.Hour
	DefaultAttemptTimeout = time.Minute
)

// DeliveryOptions tune store-and-forward delivery. Zero values take the
// defaults.
type DeliveryOptions struct {
	// Limits bound the outbox (default 1000 items, 256 MiB).
	Limits store.OutboxLimits
	// InitialBackoff is the wait after an item's first failed attempt; it
	// doubles with every further failure up to MaxBackoff.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// AttemptTimeout bounds one attempt (connect, TLS, send, answer).
	AttemptTimeout time.Duration
	// Targets, when non-nil, replace the configuration's export list.
	Targets []DeliveryTarget
	// Generator names the producer in the documents ("otaudit v1.2").
	Generator string

	// jitter returns a number in [0, 1); nil → math/rand/v2.
	jitter func() float64
}

func (o DeliveryOptions) withDefaults() DeliveryOptions {
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = DefaultInitialBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.InitialBackoff)
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	if o.Generator == "" {
		o.Generator = "otaudit"
	}
	if o.jitter == nil {
		o.jitter = rand.Float64
	}
	return o
}

// DeliveryTarget is one destination: an HTTPS endpoint that receives each
// file in a POST, or a directory the files are dropped into. It is
// configs.ExportTarget plus the client certificate, which the
// configuration does not carry yet.
type DeliveryTarget struct {
	Format    string
	Directory string
	URL       string
	// TokenFile holds a bearer token; CAFile the CA that signs the
	// endpoint's certificate (default: the system roots); CertFile and
	// KeyFile a client certificate for mutual TLS.
	TokenFile string
	CAFile    string
	CertFile  string
	KeyFile   string
}

// deliveryTargets converts the configuration's export list.
func deliveryTargets(cfg *configs.Config) []DeliveryTarget {
	var out []DeliveryTarget
	for _, t := range cfg.Export {
		out = append(out, DeliveryTarget{Format: t.Format, Directory: t.Directory, URL: t.URL, TokenFile: t.TokenFile, CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile})
	}
	return out
}

// ID identifies the target in the outbox: the format and where the files
// go. It is what an outbox item is matched to its target by, and it is
// part of the items' idempotency keys.
func (t DeliveryTarget) ID() string {
	if t.URL != "" {
		return t.Format + " url " + t.URL
	}
	dir := t.Directory
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return t.Format + " dir " + dir
}

// Label is the target for people and logs: a URL without its query (which
// may carry a token), or the directory.
func (t DeliveryTarget) Label() string {
	if t.URL == "" {
		return t.Format + " → " + t.Directory
	}
	u, err := url.Parse(t.URL)
	if err != nil {
		return t.Format + " → (unparsable url)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	u.Fragment = ""
	return t.Format + " → " + u.String()
}

// Delivery queues and delivers one agent's results.
type Delivery struct {
	Agent   *Agent
	Options DeliveryOptions
}

// Delivery returns the agent's delivery with the default options and the
// configuration's targets.
func (a *Agent) Delivery() *Delivery { return &Delivery{Agent: a} }

// QueueDelivery renders each configured export target's format for the
// zone of scan scanID and puts the files into the outbox. A full outbox
// refuses with a *store.OutboxFullError (errors.Is store.ErrOutboxFull)
// saying what it holds; nothing is dropped to make room.
func (a *Agent) QueueDelivery(ctx context.Context, scanID uint64) error {
	_, err := a.Delivery().Queue(ctx, scanID)
	return err
}

// Deliver tries every due outbox item once; see Delivery.Deliver.
func (a *Agent) Deliver(ctx context.Context) (DeliveryReport, error) {
	return a.Delivery().Deliver(ctx)
}

func (d *Delivery) options() DeliveryOptions { return d.Options.withDefaults() }

func (d *Delivery) targets() []DeliveryTarget {
	if d.Options.Targets != nil {
		return d.Options.Targets
	}
	return deliveryTargets(d.Agent.config())
}

// QueueResult says what Queue put into the outbox.
type QueueResult struct {
	// Queued are the new items; AlreadyQueued the files whose key was
	// already pending (queueing a scan twice holds its files once).
	Queued        []store.OutboxItem
	AlreadyQueued []store.OutboxItem
}

// Queue renders the scan's zone for every target and queues the files in
// one transaction: all of them or none.
func (d *Delivery) Queue(ctx context.Context, scanID uint64) (QueueResult, error) {
	var res QueueResult
	targets := d.targets()
	log := d.Agent.logger().With("scan", scanID)
	if len(targets) == 0 {
		log.Debug("no export targets configured; nothing to deliver")
		return res, nil
	}
	opts := d.options()
	if err := d.Agent.requireStore(); err != nil {
		return res, fmt.Errorf("queue delivery of scan %d: %w", scanID, err)
	}
	err := d.Agent.withStore(ctx, func(db *store.DB) error {
		scan, err := db.Scan(ctx, scanID)
		if err != nil {
			return err
		}
		if scan.Status == otaudit.ScanRunning {
			return fmt.Errorf("scan %d is still running; queue it when it has finished", scanID)
		}
		doc, err := d.document(ctx, db, scan, opts.Generator)
		if err != nil {
			return err
		}
		identity := scanIdentity(scan)
		tag := scanTag(scan, identity)
		rendered := map[string][]export.File{}
		var files []store.OutboxFile
		for _, t := range targets {
			fs, ok := rendered[t.Format]
			if !ok {
				if fs, err = export.Render(t.Format, doc); err != nil {
					return fmt.Errorf("render %s for %s: %w", t.Format, t.Label(), err)
				}
				rendered[t.Format] = fs
			}
			for _, f := range fs {
				files = append(files, store.OutboxFile{
					Item: store.OutboxItem{
						Key: idempotencyKey(t.ID(), identity, f.Name), Target: t.ID(), TargetLabel: t.Label(),
						Format: t.Format, Name: f.Name, ContentType: f.ContentType,
						Zone: scan.Zone, ScanID: scan.ID, ScanTag: tag, Created: d.Agent.now(),
					},
					Content: f.Data,
				})
			}
		}
		res.Queued, res.AlreadyQueued, err = db.EnqueueOutbox(ctx, files, opts.Limits)
		return err
	})
	if err != nil {
		return QueueResult{}, fmt.Errorf("queue delivery of scan %d: %w", scanID, err)
	}
	log.Info("results queued for delivery", "queued", len(res.Queued), "already_queued", len(res.AlreadyQueued))
	return res, nil
}

// document is what the central tool gets for a scan: the scan, the zone's
// inventory (with the hosts outside every zone that talk to it), every
// finding of the zone in whatever state, and the zone's latest scores.
func (d *Delivery) document(ctx context.Context, db *store.DB, scan otaudit.Scan, generator string) (export.Document, error) {
	doc := export.Document{Generator: generator, Generated: d.Agent.now(), Zone: scan.Zone, Scans: []otaudit.Scan{scan}}
	assets, err := db.Assets(ctx)
	if err != nil {
		return doc, err
	}
	for _, as := range assets {
		if as.Zone == scan.Zone || as.Zone == "" {
			doc.Assets = append(doc.Assets, as)
		}
	}
	if doc.Findings, err = db.Findings(ctx, store.FindingFilter{Zone: scan.Zone}); err != nil {
		return doc, err
	}
	scores, err := db.LatestScores(ctx)
	if err != nil {
		return doc, err
	}
	for _, s := range scores {
		if s.Zone == scan.Zone {
			doc.Scores = append(doc.Scores, s)
		}
	}
	return doc, nil
}

// scanIdentity tells this scan from every other one, in this store and in
// the stores of other agents delivering to the same place (scan IDs alone
// repeat across stores).
func scanIdentity(s otaudit.Scan) string {
	return strings.Join([]string{s.Zone, strconv.FormatUint(s.ID, 10), s.Started.UTC().Format(time.RFC3339Nano), s.Host}, "\x00")
}

// scanTag names the scan's files in a directory drop: sortable by time,
// readable, and unique across stores thanks to the identity hash.
func scanTag(s otaudit.Scan, identity string) string {
	sum := sha256.Sum256([]byte(identity))
	return fmt.Sprintf("%s_%s_scan%d_%s", s.Started.UTC().Format("20060102T150405Z"), fileSafe(s.Zone), s.ID, hex.EncodeToString(sum[:4]))
}

// idempotencyKey is sha256(target | scan | file): the same file of the
// same scan for the same target always has the same key, however often it
// is queued or sent.
func idempotencyKey(targetID, scanIdentity, fileName string) string {
	sum := sha256.Sum256([]byte(targetID + "\x00" + scanIdentity + "\x00" + fileName))
	return hex.EncodeToString(sum[:])
}

// fileSafe keeps letters, digits, '.', '-' and '_'; anything else becomes
// '-', so a zone name cannot steer a file name out of its directory.
func fileSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	if len(b) == 0 || b[0] == '.' {
		b = append([]byte("z"), b...)
	}
	return string(b)
}

// DeliveryReport is what one Deliver call did.
type DeliveryReport struct {
	// Attempted items were sent (or tried); Delivered were acknowledged
	// and left the outbox; Failed stay for a later attempt.
	Attempted, Delivered, Failed int
	// Pending is what the outbox holds afterwards (due later, or skipped
	// this time because their target just failed).
	Pending int
	// Unconfigured counts pending items whose target is not in the
	// configuration in use; they are left untouched.
	Unconfigured int
	// Busy counts items another process was delivering at the time.
	Busy int
	// Errors has one line per failed attempt.
	Errors []string
}

// Deliver tries every due item once, in the order they were queued. After
// a target fails to answer (connection, TLS, timeout, 5xx, 429) its other
// items wait for the next call rather than each waiting for the same
// failure. Errors from individual items are in the report; the returned
// error is for the outbox itself (the store) or a cancelled ctx.
func (d *Delivery) Deliver(ctx context.Context) (DeliveryReport, error) {
	return d.deliver(ctx, false)
}

// DeliverNow is Deliver ignoring the backoff: every item not in flight
// elsewhere is tried now.
func (d *Delivery) DeliverNow(ctx context.Context) (DeliveryReport, error) {
	return d.deliver(ctx, true)
}

func (d *Delivery) deliver(ctx context.Context, ignoreBackoff bool) (DeliveryReport, error) {
	var rep DeliveryReport
	opts := d.options()
	log := d.Agent.logger()
	var items []store.OutboxItem
	if err := d.Agent.requireStore(); err != nil {
		return rep, fmt.Errorf("deliver: %w", err)
	}
	err := d.Agent.withStore(ctx, func(db *store.DB) error {
		var err error
		items, err = db.OutboxItems(ctx)
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("deliver: %w", err)
	}
	rep.Pending = len(items)
	if len(items) == 0 {
		return rep, nil
	}

	byID := map[string]DeliveryTarget{}
	for _, t := range d.targets() {
		byID[t.ID()] = t
	}
	senders := map[string]sender{}
	defer func() {
		for _, s := range senders {
			s.close()
		}
	}()
	down := map[string]bool{}
	unconfigured := map[string]int{}

	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("deliver: %w", err)
		}
		t, ok := byID[it.Target]
		if !ok {
			rep.Unconfigured++
			unconfigured[it.TargetLabel]++
			continue
		}
		now := d.Agent.now()
		if down[it.Target] || (!ignoreBackoff && it.NextAttempt.After(now)) {
			continue
		}
		var data []byte
		err := d.Agent.withStore(ctx, func(db *store.DB) error {
			var err error
			it, data, err = db.ClaimOutboxItem(ctx, it.ID, now, now.Add(opts.AttemptTimeout+time.Minute))
			return err
		})
		switch {
		case errors.Is(err, store.ErrNotFound):
			rep.Pending-- // delivered or dropped meanwhile
			continue
		case errors.Is(err, store.ErrOutboxBusy):
			rep.Busy++
			continue
		case err != nil:
			return rep, fmt.Errorf("deliver: %w", err)
		}
		rep.Attempted++
		ilog := log.With("item", it.ID, "target", it.TargetLabel, "file", it.Name, "attempt", it.Attempts)

		s, ok := senders[it.Target]
		if !ok {
			s = newSender(t, ilog)
			senders[it.Target] = s
		}
		attemptCtx, cancel := context.WithTimeout(ctx, opts.AttemptTimeout)
		sendErr := s.send(attemptCtx, it, data)
		cancel()
		// The bookkeeping below must happen even when ctx was cancelled
		// mid-attempt (shutdown): otherwise the item keeps its lease.
		bookCtx := context.WithoutCancel(ctx)

		if sendErr == nil {
			err := d.Agent.withStore(bookCtx, func(db *store.DB) error { return db.AckOutboxItem(bookCtx, it.ID) })
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return rep, fmt.Errorf("deliver: %s was delivered but could not be removed from the outbox (it will be sent again; the receiver drops it by its key): %w", it.Name, err)
			}
			rep.Delivered++
			rep.Pending--
			ilog.Info("delivered")
			continue
		}

		var de *deliveryError
		if !errors.As(sendErr, &de) {
			de = &deliveryError{err: sendErr}
		}
		next := now.Add(backoff(it.Attempts, de.retryAfter, opts))
		msg := sendErr.Error()
		if ctx.Err() != nil {
			// Interrupted, not failed: retry as soon as the agent is back.
			next, msg = now, "interrupted: "+msg
		}
		if _, err := d.recordFailure(bookCtx, it.ID, next, msg); err != nil {
			return rep, fmt.Errorf("deliver: %w", err)
		}
		rep.Failed++
		rep.Errors = append(rep.Errors, fmt.Sprintf("%s %s (item %d): %s", it.TargetLabel, it.Name, it.ID, msg))
		ilog.Warn("delivery failed; kept in the outbox", "err", msg, "next_attempt", next)
		if de.targetDown {
			down[it.Target] = true
		}
		if ctx.Err() != nil {
			return rep, fmt.Errorf("deliver: %w", ctx.Err())
		}
	}
	for label, n := range unconfigured {
		log.Warn("outbox items for a target that is not in this configuration; left in the outbox (see `otaudit outbox`)", "target", label, "items", n)
	}
	return rep, nil
}

// requireStore keeps delivery from creating an empty store at a wrong path.
func (a *Agent) requireStore() error {
	if _, err := os.Stat(a.DBPath); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w at %s: nothing was ever queued there (wrong --db?)", ErrNoDatabase, a.DBPath)
	}
	return nil
}

func (d *Delivery) recordFailure(ctx context.Context, id uint64, next time.Time, msg string) (store.OutboxItem, error) {
	var it store.OutboxItem
	err := d.Agent.withStore(ctx, func(db *store.DB) error {
		var err error
		it, err = db.FailOutboxItem(ctx, id, next, msg)
		if errors.Is(err, store.ErrNotFound) {
			return nil // dropped meanwhile
		}
		return err
	})
	return it, err
}

// backoff is the wait before attempt n+1 after n failed ones: it doubles
// from InitialBackoff up to MaxBackoff, with "equal jitter" (between half
// and all of it) so that many agents recovering from the same outage do
// not all come back at once. A Retry-After from the receiver is honoured
// up to MaxBackoff.
func backoff(attempts int, retryAfter time.Duration, o DeliveryOptions) time.Duration {
	d := o.MaxBackoff
	if shift := attempts - 1; shift < 40 {
		d = min(o.MaxBackoff, o.InitialBackoff<<max(shift, 0))
	}
	d = d/2 + time.Duration(o.jitter()*float64(d/2))
	if retryAfter > 0 {
		d = max(d, min(retryAfter, o.MaxBackoff))
	}
	return d
}

// Outbox lists what waits for delivery and sums it up (read-only).
func (a *Agent) Outbox(ctx context.Context) (items []store.OutboxItem, stats store.OutboxStats, err error) {
	err = a.read(ctx, func(db *store.DB) error {
		if items, err = db.OutboxItems(ctx); err != nil {
			return err
		}
		stats, err = db.OutboxStats(ctx)
		return err
	})
	return items, stats, err
}

// DropOutbox removes items from the outbox without delivering them.
func (a *Agent) DropOutbox(ctx context.Context, ids []uint64) (dropped []store.OutboxItem, err error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	err = a.withStore(ctx, func(db *store.DB) error {
		dropped, err = db.DropOutboxItems(ctx, ids)
		return err
	})
	if err == nil {
		for _, it := range dropped {
			a.logger().Warn("outbox item dropped without delivery", "item", it.ID, "target", it.TargetLabel, "file", it.Name, "scan", it.ScanID)
		}
	}
	return dropped, err
}
