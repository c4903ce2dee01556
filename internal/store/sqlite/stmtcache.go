package sqlite

import (
	"container/list"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"

	modsqlite "modernc.org/sqlite"
)

// stmtCacheSize is how many prepared statements each connection keeps.
// The store's and River's statements are a few dozen distinct texts; the
// rest (IN lists of varying length, River's ad hoc job lists) come and go
// through the least recently used slots.
const stmtCacheSize = 128

// openDB opens dsn as sql.Open("sqlite", dsn) does, each connection with
// a cache of prepared statements (cachingConn).
func openDB(dsn string) (*sql.DB, error) {
	c, err := modsqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(cachingConnector{c}), nil
}

// cachingConnector opens modernc's connections wrapped in cachingConn.
type cachingConnector struct{ driver.Connector }

// Connect implements driver.Connector.
func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newCachingConn(conn)
}

// connInterfaces is what modernc's connection implements and database/sql
// uses; cachingConn forwards each.
type connInterfaces interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachingConn is a SQLite connection that prepares each statement text
// once and runs it again from its prepared form. modernc's driver (like
// database/sql) prepares every Query and Exec afresh, and SQLite's parser
// is what a bulk sync spends most of its CPU on otherwise: River's
// riversqlite statements are long, and it runs several per chunk (the
// completion in our transaction, the completer's second write, the
// fetch). database/sql uses a connection from one goroutine at a time, so
// the cache needs no lock; a statement whose rows are still open is not
// shared: a second use of its text meanwhile runs unprepared.
type cachingConn struct {
	connInterfaces
	stmts map[string]*list.Element // of *cachedStmt, most recent first
	lru   list.List
}

// cachedStmt is a prepared statement and whether its rows are open.
type cachedStmt struct {
	query string
	stmt  interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	}
	busy, evicted bool
}

func newCachingConn(c driver.Conn) (driver.Conn, error) {
	ci, ok := c.(connInterfaces)
	if !ok {
		_ = c.Close()
		return nil, fmt.Errorf("sqlite connection %T lacks an interface the statement cache forwards", c)
	}
	return &cachingConn{connInterfaces: ci, stmts: make(map[string]*list.Element)}, nil
}

// get returns the prepared statement of query, preparing it if needed; nil
// when it is in use. (A script of several statements is kept too: modernc
// runs it from its text statement by statement, as it does unprepared.)
func (c *cachingConn) get(ctx context.Context, query string) (*cachedStmt, error) {
	if e, ok := c.stmts[query]; ok {
		cs := e.Value.(*cachedStmt)
		if cs.busy {
			return nil, nil
		}
		c.lru.MoveToFront(e)
		return cs, nil
	}
	ds, err := c.connInterfaces.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	})
	if !ok {
		_ = ds.Close()
		return nil, nil
	}
	cs := &cachedStmt{query: query, stmt: st}
	c.stmts[query] = c.lru.PushFront(cs)
	for c.lru.Len() > stmtCacheSize {
		c.evict(c.lru.Back())
	}
	return cs, nil
}

// evict drops e from the cache; its statement closes now, or when its
// rows close.
func (c *cachingConn) evict(e *list.Element) {
	cs := e.Value.(*cachedStmt)
	c.lru.Remove(e)
	delete(c.stmts, cs.query)
	cs.evicted = true
	if !cs.busy {
		_ = cs.stmt.Close()
	}
}

// QueryContext implements driver.QueryerContext.
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.connInterfaces.QueryContext(ctx, query, args)
	}
	rows, err := cs.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, cs: cs}, nil
}

// ExecContext implements driver.ExecerContext.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.connInterfaces.ExecContext(ctx, query, args)
	}
	return cs.stmt.ExecContext(ctx, args)
}

// Close closes the cached statements, then the connection.
func (c *cachingConn) Close() error {
	var errs []error
	for c.lru.Len() > 0 {
		e := c.lru.Back()
		cs := e.Value.(*cachedStmt)
		c.lru.Remove(e)
		delete(c.stmts, cs.query)
		cs.evicted = true
		if !cs.busy {
			errs = append(errs, cs.stmt.Close())
		}
	}
	errs = append(errs, c.connInterfaces.Close())
	return errors.Join(errs...)
}

// cachedRows are the rows of a cached statement: closing them frees the
// statement for its next use (or closes it, when it was evicted
// meanwhile).
type cachedRows struct {
	driver.Rows
	cs *cachedStmt
}

// Close implements driver.Rows.
func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	if r.cs != nil {
		r.cs.busy = false
		if r.cs.evicted {
			err = errors.Join(err, r.cs.stmt.Close())
		}
		r.cs = nil
	}
	return err
}

// modernc's rows describe their columns; cachedRows passes that on
// (database/sql's ColumnTypes).
type columnTyper interface {
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// ColumnTypeDatabaseTypeName implements driver.RowsColumnTypeDatabaseTypeName.
func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(columnTyper); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

// ColumnTypeLength implements driver.RowsColumnTypeLength.
func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(columnTyper); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

// ColumnTypeNullable implements driver.RowsColumnTypeNullable.
func (r *cachedRows) ColumnTypeNullable(i int) (bool, bool) {
	if t, ok := r.Rows.(columnTyper); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

// ColumnTypePrecisionScale implements driver.RowsColumnTypePrecisionScale.
func (r *cachedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if t, ok := r.Rows.(columnTyper); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

// ColumnTypeScanType implements driver.RowsColumnTypeScanType.
func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(columnTyper); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}
