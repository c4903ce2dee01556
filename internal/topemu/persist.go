package topemu

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // pure Go SQLite driver, registered as "sqlite"
)

// sqliteStore keeps the emulator's state in a SQLite file, so it survives
// restarts. The in-memory model stays the source for reads; every change is
// written here first, in one transaction per call, and applied to the model
// only once committed.
type sqliteStore struct {
	db *sql.DB
}

const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS docs (
	kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,
	PRIMARY KEY (kind, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blacklist (
	mobile TEXT PRIMARY KEY, reasons INTEGER NOT NULL, supplier_id TEXT NOT NULL,
	updated_at INTEGER NOT NULL, listed INTEGER NOT NULL, applies INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sync_requests (
	request_id TEXT PRIMARY KEY, fingerprint BLOB NOT NULL, entries INTEGER NOT NULL) WITHOUT ROWID;
`

// Document kinds in the docs table.
const (
	kindStore    = "store"
	kindWorkcard = "workcard"
	kindWorker   = "worker"
	kindVNum     = "vnum"
	kindConfig   = "config"
)

// openSQLite opens (creating if needed) the state file at path.
func openSQLite(ctx context.Context, path string) (*sqliteStore, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("state file %q: path must not contain ? or #", path)
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	// Writes are serialised by the emulator's lock; one connection keeps
	// SQLite from ever seeing two writers.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create schema in %s: %w", path, err)
	}
	return &sqliteStore{db: db}, nil
}

// Close closes the file.
func (s *sqliteStore) Close() error { return s.db.Close() }

// load reads the saved state. It reports false when the file is new.
func (s *sqliteStore) load(ctx context.Context) (seed *State, m *model, ok bool, err error) {
	var seedJSON string
	err = s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'seed'`).Scan(&seedJSON)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("read seed: %w", err)
	}
	seed = &State{}
	if err := json.Unmarshal([]byte(seedJSON), seed); err != nil {
		return nil, nil, false, fmt.Errorf("decode saved seed: %w", err)
	}
	st := &State{}
	rows, err := s.db.QueryContext(ctx, `SELECT kind, doc FROM docs`)
	if err != nil {
		return nil, nil, false, fmt.Errorf("read documents: %w", err)
	}
	for rows.Next() {
		var kind, doc string
		if err := rows.Scan(&kind, &doc); err != nil {
			rows.Close()
			return nil, nil, false, fmt.Errorf("read documents: %w", err)
		}
		if err := st.addDoc(kind, []byte(doc)); err != nil {
			rows.Close()
			return nil, nil, false, err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, false, fmt.Errorf("read documents: %w", err)
	}
	sortState(st)
	m = newModel(st)

	rows, err = s.db.QueryContext(ctx, `SELECT mobile, reasons, supplier_id, updated_at, listed, applies FROM blacklist`)
	if err != nil {
		return nil, nil, false, fmt.Errorf("read blacklist: %w", err)
	}
	for rows.Next() {
		var mobile, supplier string
		var reasons, updated, applies int64
		var listed bool
		if err := rows.Scan(&mobile, &reasons, &supplier, &updated, &listed, &applies); err != nil {
			rows.Close()
			return nil, nil, false, fmt.Errorf("read blacklist: %w", err)
		}
		m.blacklist[mobile] = blEntry{
			supplier: m.intern(supplier), updated: updated, applies: uint32(applies),
			reasons: reasonMask(reasons), listed: listed,
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, false, fmt.Errorf("read blacklist: %w", err)
	}

	rows, err = s.db.QueryContext(ctx, `SELECT request_id, fingerprint, entries FROM sync_requests`)
	if err != nil {
		return nil, nil, false, fmt.Errorf("read sync requests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var fp []byte
		var rec syncRecord
		if err := rows.Scan(&id, &fp, &rec.entries); err != nil {
			return nil, nil, false, fmt.Errorf("read sync requests: %w", err)
		}
		copy(rec.fingerprint[:], fp)
		m.syncs[id] = rec
	}
	if err := rows.Err(); err != nil {
		return nil, nil, false, fmt.Errorf("read sync requests: %w", err)
	}
	return seed, m, true, nil
}

// addDoc adds one saved document to st.
func (st *State) addDoc(kind string, doc []byte) error {
	var err error
	switch kind {
	case kindStore:
		var v Store
		err = json.Unmarshal(doc, &v)
		st.Stores = append(st.Stores, v)
	case kindWorkcard:
		var v Workcard
		err = json.Unmarshal(doc, &v)
		st.Workcards = append(st.Workcards, v)
	case kindWorker:
		var v Worker
		err = json.Unmarshal(doc, &v)
		st.Workers = append(st.Workers, v)
	case kindVNum:
		var v VirtualNumber
		err = json.Unmarshal(doc, &v)
		st.VirtualNumbers = append(st.VirtualNumbers, v)
	case kindConfig:
		var v struct {
			Categories []int64  `json:"categories"`
			BizTypes   []string `json:"biz_types"`
		}
		err = json.Unmarshal(doc, &v)
		st.Categories, st.BizTypes = v.Categories, v.BizTypes
	default:
		return fmt.Errorf("saved state has unknown kind %q", kind)
	}
	if err != nil {
		return fmt.Errorf("decode saved %s: %w", kind, err)
	}
	return nil
}

// docRow is one document to upsert.
type docRow struct {
	kind, id string
	value    any
}

func workcardRow(wc Workcard) docRow {
	return docRow{kindWorkcard, strconv.FormatInt(wc.ID, 10), wc}
}

func workerRow(w Worker) docRow {
	return docRow{kindWorker, strconv.FormatInt(w.ID, 10), w}
}

func vnumRow(v VirtualNumber) docRow {
	return docRow{kindVNum, strconv.FormatInt(v.WorkcardID, 10), v}
}

// putDocs upserts documents in one transaction.
func (s *sqliteStore) putDocs(ctx context.Context, docs ...docRow) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return putDocsTx(ctx, tx, docs) })
}

func putDocsTx(ctx context.Context, tx *sql.Tx, docs []docRow) error {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO docs (kind, id, doc) VALUES (?, ?, ?)
		ON CONFLICT (kind, id) DO UPDATE SET doc = excluded.doc`)
	if err != nil {
		return fmt.Errorf("prepare document upsert: %w", err)
	}
	defer stmt.Close()
	for _, d := range docs {
		b, err := json.Marshal(d.value)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", d.kind, d.id, err)
		}
		if _, err := stmt.ExecContext(ctx, d.kind, d.id, string(b)); err != nil {
			return fmt.Errorf("save %s %s: %w", d.kind, d.id, err)
		}
	}
	return nil
}

// blRow is one blacklist row to upsert.
type blRow struct {
	mobile string
	entry  blEntry
}

// applySync saves a blacklist sync's rows and its idempotency record in one
// transaction.
func (s *sqliteStore) applySync(ctx context.Context, rows []blRow, requestID string, rec syncRecord) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := putBlacklistTx(ctx, tx, rows); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sync_requests (request_id, fingerprint, entries) VALUES (?, ?, ?)`,
			requestID, rec.fingerprint[:], rec.entries)
		if err != nil {
			return fmt.Errorf("save sync request: %w", err)
		}
		return nil
	})
}

func putBlacklistTx(ctx context.Context, tx *sql.Tx, rows []blRow) error {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO blacklist (mobile, reasons, supplier_id, updated_at, listed, applies)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (mobile) DO UPDATE SET reasons = excluded.reasons,
		supplier_id = excluded.supplier_id, updated_at = excluded.updated_at, listed = excluded.listed,
		applies = excluded.applies`)
	if err != nil {
		return fmt.Errorf("prepare blacklist upsert: %w", err)
	}
	defer stmt.Close()
	for _, r := range rows {
		e := r.entry
		if _, err := stmt.ExecContext(ctx, r.mobile, int64(e.reasons), e.supplier, e.updated, e.listed, int64(e.applies)); err != nil {
			return fmt.Errorf("save blacklist entry: %w", err)
		}
	}
	return nil
}

// replaceAll replaces everything saved with seed (the reset target) and m.
func (s *sqliteStore) replaceAll(ctx context.Context, seed *State, m *model) error {
	seedJSON, err := json.Marshal(seed)
	if err != nil {
		return fmt.Errorf("encode seed: %w", err)
	}
	st := m.export()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for _, table := range []string{"docs", "blacklist", "sync_requests", "meta"} {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+table); err != nil {
				return fmt.Errorf("clear %s: %w", table, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('seed', ?)`, string(seedJSON)); err != nil {
			return fmt.Errorf("save seed: %w", err)
		}
		docs := make([]docRow, 0, len(st.Stores)+len(st.Workcards)+len(st.Workers)+len(st.VirtualNumbers)+1)
		for _, v := range st.Stores {
			docs = append(docs, docRow{kindStore, strconv.FormatInt(v.ID, 10), v})
		}
		for _, v := range st.Workcards {
			docs = append(docs, workcardRow(v))
		}
		for _, v := range st.Workers {
			docs = append(docs, workerRow(v))
		}
		for _, v := range st.VirtualNumbers {
			docs = append(docs, vnumRow(v))
		}
		docs = append(docs, docRow{kindConfig, "config", struct {
			Categories []int64  `json:"categories"`
			BizTypes   []string `json:"biz_types"`
		}{st.Categories, st.BizTypes}})
		if err := putDocsTx(ctx, tx, docs); err != nil {
			return err
		}
		rows := make([]blRow, 0, len(m.blacklist))
		for mobile, e := range m.blacklist {
			rows = append(rows, blRow{mobile, e})
		}
		return putBlacklistTx(ctx, tx, rows)
	})
}

func (s *sqliteStore) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
