package copier

// SetAfterPrefilter makes w call f between its read-only snapshot and its
// read-write transaction, where a live write can race the backfill.
func SetAfterPrefilter(w *Writer, f func()) { w.afterPrefilter = f }

// Prefilters is how many of w's batches ran the prefilter.
func Prefilters(w *Writer) int { return w.prefilters }
