package transforms

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"   // gs:// dead-letter prefixes on Dataflow
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // local paths on Prism

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/copier"
)

// DeadLetter is one dead-lettered row (see copier.DeadLetter).
type DeadLetter = copier.DeadLetter

// DeadLetterFile is where the dead letters of chunk c go under dir (a local
// directory or a gs:// prefix): one file per chunk, so a retried or resumed
// chunk rewrites its own file and never duplicates or drops another's.
func DeadLetterFile(dir string, c chunking.Chunk) string {
	return strings.TrimSuffix(dir, "/") + "/" + fmt.Sprintf("%s-chunk-%05d.jsonl", c.Table, c.ID)
}

// WriteDeadLetters stores a chunk's dead letters durably. It runs before the
// chunk is marked done, so a crash can never leave a finished chunk whose
// dead letters are lost.
func WriteDeadLetters(ctx context.Context, dir string, c chunking.Chunk, dls []DeadLetter) error {
	if dir == "" || len(dls) == 0 {
		return nil
	}
	name := DeadLetterFile(dir, c)
	fs, err := filesystem.New(ctx, name)
	if err != nil {
		return fmt.Errorf("dead letters of %s: %w", c, err)
	}
	defer fs.Close()
	w, err := fs.OpenWrite(ctx, name)
	if err != nil {
		return fmt.Errorf("dead letters of %s: %w", c, err)
	}
	enc := json.NewEncoder(w)
	for _, d := range dls {
		if err := enc.Encode(d); err != nil {
			w.Close()
			return fmt.Errorf("dead letters of %s: %w", c, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("dead letters of %s: %w", c, err)
	}
	return nil
}
