package job

import (
	"context"

	"github.com/livemigrate/livemigrate/copier"
	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/pii/detect"
)

// AuditPII runs the PII coverage audit over every column of the job — its
// name, its comment and a sample of its values (one cheap query per table,
// the first detect.SampleRows rows, each value cut to detect.SamplePrefix
// characters) — and returns what looks personal or secret, with the
// spec's decision for it (or none).
func (j *Job) AuditPII(ctx context.Context) ([]pii.Finding, error) {
	var tables []pii.AuditTable
	for i := range j.Config.Tables {
		p := &j.Config.Tables[i].Plan
		var sampled []string
		for _, c := range p.Cols {
			if detect.Sampled(c.Column.DataType) {
				sampled = append(sampled, c.Source)
			}
		}
		samples, err := detect.Sample(ctx, j.DB, p.Source, sampled, detect.SampleRows)
		if err != nil {
			return nil, err
		}
		t := pii.AuditTable{Name: p.Target, Source: p.Source}
		for _, c := range p.Cols {
			t.Columns = append(t.Columns, pii.AuditColumn{Name: c.Target, Source: c.Source, DataType: c.Column.DataType,
				Comment: c.Column.Comment, Samples: samples[c.Source]})
		}
		tables = append(tables, t)
	}
	return pii.Audit(&j.Config.PII, tables), nil
}

// CheckPII is the backfill's fail-closed gate: every column that looks
// personal or secret has a decision, and the keyset loads (one KMS call)
// and fits the tables. Its errors are bad input.
func (j *Job) CheckPII(ctx context.Context) error {
	fs, err := j.AuditPII(ctx)
	if err != nil {
		return err
	}
	if err := pii.UndecidedError(fs); err != nil {
		return err
	}
	_, err = copier.NewProtector(ctx, j.Config, nil)
	return err
}
