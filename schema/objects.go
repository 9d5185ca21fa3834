package schema

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Object is a source-schema object that livemigrate does not migrate: a
// trigger, a view, a stored procedure or function, or an event. Each comes
// with what it means for the cutover.
type Object struct {
	Kind string `json:"kind"` // trigger, view, procedure, function, event
	Name string `json:"name"`
	// Table is the table a trigger fires on.
	Table string `json:"table,omitempty"`
	// What says when it runs (a trigger's timing and event, an event's
	// schedule).
	What string `json:"what,omitempty"`
	// InSpec is set for a trigger on a table the spec copies.
	InSpec  bool   `json:"in_spec,omitempty"`
	Meaning string `json:"meaning"`
}

const (
	triggerMeaning = "Spanner has no triggers. The backfill copies the rows the trigger already wrote; from the start of the backfill until cutover its effects reach Spanner " +
		"only if the live path carries them (a binlog CDC stream does, an application's dual writes do not), and after cutover the application must do what it did"
	viewMeaning      = "not created: Spanner has views (CREATE VIEW ... SQL SECURITY INVOKER AS SELECT ...) in GoogleSQL; rewrite the MySQL definition by hand"
	routineMeaning   = "Spanner has no stored procedures or functions: move the logic into the application before cutover"
	eventMeaning     = "Spanner has no event scheduler: run the job from a scheduler (e.g. Cloud Scheduler) against Spanner after cutover"
	objectsNotListed = "could not be listed"
)

// ListObjects reads the triggers, views, routines and events of a MySQL
// database; spec names the source tables the spec copies (for marking the
// triggers that fire on them). A catalogue the user may not read is
// reported as one object that says so, not as an error.
func ListObjects(ctx context.Context, db *sql.DB, dbName string, spec []string) ([]Object, error) {
	inSpec := map[string]bool{}
	for _, t := range spec {
		inSpec[strings.ToLower(t)] = true
	}
	var out []Object
	queries := []struct {
		kind, sql string
		scan      func(r *sql.Rows) (Object, error)
	}{
		{"trigger", `SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, CONCAT(ACTION_TIMING, ' ', EVENT_MANIPULATION)
			FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, TRIGGER_NAME`,
			func(r *sql.Rows) (Object, error) {
				o := Object{Kind: "trigger", Meaning: triggerMeaning}
				err := r.Scan(&o.Name, &o.Table, &o.What)
				o.InSpec = inSpec[strings.ToLower(o.Table)]
				return o, err
			}},
		{"view", `SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME`,
			func(r *sql.Rows) (Object, error) {
				o := Object{Kind: "view", Meaning: viewMeaning}
				return o, r.Scan(&o.Name)
			}},
		{"routine", `SELECT LOWER(ROUTINE_TYPE), ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME`,
			func(r *sql.Rows) (Object, error) {
				o := Object{Meaning: routineMeaning}
				return o, r.Scan(&o.Kind, &o.Name)
			}},
		{"event", `SELECT EVENT_NAME, CONCAT(EVENT_TYPE, IF(EVENT_TYPE = 'RECURRING', CONCAT(' every ', INTERVAL_VALUE, ' ', INTERVAL_FIELD), ''), ', ', STATUS)
			FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME`,
			func(r *sql.Rows) (Object, error) {
				o := Object{Kind: "event", Meaning: eventMeaning}
				return o, r.Scan(&o.Name, &o.What)
			}},
	}
	for _, q := range queries {
		rows, err := db.QueryContext(ctx, q.sql, dbName)
		if err != nil {
			out = append(out, Object{Kind: q.kind, Name: "*", Meaning: fmt.Sprintf("%s: %v", objectsNotListed, err)})
			continue
		}
		for rows.Next() {
			o, err := q.scan(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("list %ss: %w", q.kind, err)
			}
			out = append(out, o)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("list %ss: %w", q.kind, err)
		}
	}
	return out, nil
}

// RenderNotMigrated prints the objects that do not move, grouped by kind,
// each kind's meaning once; prefix starts every line.
func RenderNotMigrated(objs []Object, prefix string) string {
	if len(objs) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%sNOT MIGRATED: %d objects of the source schema that livemigrate does not create in Spanner.\n", prefix, len(objs))
	var kinds []string
	byKind := map[string][]Object{}
	for _, o := range objs {
		if byKind[o.Kind] == nil {
			kinds = append(kinds, o.Kind)
		}
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	for _, k := range kinds {
		os := byKind[k]
		fmt.Fprintf(&b, "%s\n%s%ss (%d): %s\n", strings.TrimSpace(prefix), prefix, k, len(os), os[0].Meaning)
		for _, o := range os {
			line := o.Name
			if o.Table != "" {
				line += " on " + o.Table
			}
			if o.What != "" {
				line += " (" + o.What + ")"
			}
			if o.InSpec {
				line += " — fires on a table this spec copies"
			}
			fmt.Fprintf(&b, "%s  %s\n", prefix, line)
		}
	}
	return b.String()
}
