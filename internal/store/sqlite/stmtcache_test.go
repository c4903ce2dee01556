package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

// cacheDB opens a SQLite file of the test through openDB, one connection
// (as the store's write handle), with a table t(n) of 1..5.
func cacheDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := openDB("file:" + filepath.Join(t.TempDir(), "cache.db") + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec("CREATE TABLE t (n INTEGER PRIMARY KEY); INSERT INTO t (n) VALUES (1), (2), (3), (4), (5);"); err != nil {
		t.Fatal(err)
	}
	return db
}

// cached is the statement texts the connection keeps.
func cached(t *testing.T, db *sql.DB) map[string]bool {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	out := map[string]bool{}
	if err := conn.Raw(func(dc any) error {
		for q := range dc.(*cachingConn).stmts {
			out[q] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func sum(t *testing.T, q interface {
	QueryRow(string, ...any) *sql.Row
}, query string, args ...any) int {
	t.Helper()
	var n int
	if err := q.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestStatementCache: a statement text is prepared once per connection and
// run again with new arguments; a text whose rows are open runs unprepared
// meanwhile; the least recently used statements leave past stmtCacheSize,
// one with open rows when they close; scripts and transactions work as
// without the cache.
func TestStatementCache(t *testing.T) {
	const q = "SELECT coalesce(sum(n), 0) FROM t WHERE n >= ?"
	tests := []struct {
		name string
		run  func(t *testing.T, db *sql.DB)
	}{
		{"one text, new arguments", func(t *testing.T, db *sql.DB) {
			for _, c := range []struct{ from, want int }{{1, 15}, {4, 9}, {6, 0}, {2, 14}} {
				if got := sum(t, db, q, c.from); got != c.want {
					t.Errorf("sum from %d = %d; want %d", c.from, got, c.want)
				}
			}
			if !cached(t, db)[q] {
				t.Errorf("%q is not kept: %v", q, cached(t, db))
			}
		}},
		{"the same text while its rows are open", func(t *testing.T, db *sql.DB) {
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			const each = "SELECT n FROM t WHERE n >= ? ORDER BY n"
			rows, err := tx.Query(each, 1)
			if err != nil {
				t.Fatal(err)
			}
			var outer, inner []int
			for rows.Next() {
				var n int
				if err := rows.Scan(&n); err != nil {
					t.Fatal(err)
				}
				outer = append(outer, n)
				in, err := tx.Query(each, 5) // the same text, rows of the outer still open
				if err != nil {
					t.Fatal(err)
				}
				for in.Next() {
					var m int
					if err := in.Scan(&m); err != nil {
						t.Fatal(err)
					}
					inner = append(inner, m)
				}
				if err := in.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if err := rows.Close(); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(outer) != "[1 2 3 4 5]" || fmt.Sprint(inner) != "[5 5 5 5 5]" {
				t.Errorf("outer %v, inner %v; want [1 2 3 4 5] and five 5s", outer, inner)
			}
		}},
		{"least recently used out", func(t *testing.T, db *sql.DB) {
			tx, err := db.Begin() // the one connection, for the rows left open
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			open, err := tx.Query("SELECT n FROM t ORDER BY n") // stays open while it is evicted
			if err != nil {
				t.Fatal(err)
			}
			for i := range stmtCacheSize + 10 {
				if got := sum(t, tx, fmt.Sprintf("SELECT %d + count(*) FROM t", i)); got != i+5 {
					t.Fatalf("statement %d: %d", i, got)
				}
			}
			var got []int
			for open.Next() {
				var n int
				if err := open.Scan(&n); err != nil {
					t.Fatal(err)
				}
				got = append(got, n)
			}
			if err := open.Close(); err != nil || fmt.Sprint(got) != "[1 2 3 4 5]" {
				t.Errorf("rows of an evicted statement: %v, %v", got, err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			c := cached(t, db)
			if len(c) != stmtCacheSize || c["SELECT n FROM t ORDER BY n"] || c["SELECT 0 + count(*) FROM t"] ||
				!c[fmt.Sprintf("SELECT %d + count(*) FROM t", stmtCacheSize+9)] {
				t.Errorf("%d statements kept; want the last %d", len(c), stmtCacheSize)
			}
			if got := sum(t, db, "SELECT n FROM t ORDER BY n DESC LIMIT 1"); got != 5 {
				t.Errorf("after: %d", got)
			}
		}},
		{"scripts and transactions", func(t *testing.T, db *sql.DB) {
			const script = "INSERT INTO t (n) VALUES (10); INSERT INTO t (n) VALUES (20);"
			if _, err := db.Exec(script); err != nil {
				t.Fatal(err)
			}
			tx, err := db.Begin()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec("DELETE FROM t WHERE n >= ?", 10); err != nil {
				t.Fatal(err)
			}
			if got := sum(t, tx, q, 1); got != 15 {
				t.Errorf("in the transaction: %d; want 15", got)
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			if got := sum(t, db, q, 1); got != 45 {
				t.Errorf("after the rollback: %d; want 45", got)
			}
			if _, err := db.Exec(script); err == nil {
				t.Error("the script ran twice without its UNIQUE error")
			}
			if _, err := db.Exec("DELETE FROM t WHERE n >= ?", 10); err != nil {
				t.Fatal(err)
			}
			if got := sum(t, db, q, 1); got != 15 {
				t.Errorf("after the delete: %d; want 15", got)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, cacheDB(t))
		})
	}
}
