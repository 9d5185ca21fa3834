package transforms

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/livemigrate/livemigrate/chunking"
)

func init() {
	register.DoFn2x0[chunking.Chunk, func(int, chunking.Chunk)](&LaneFn{})
	register.Emitter2[int, chunking.Chunk]()
	register.Function2x1(LaneOf)
	register.Function3x0(DropLane)
}

// LaneFn deals chunks round-robin over Lanes lanes: it keys each chunk
// with its lane (pipelines.Chunks partitions on the key).
type LaneFn struct {
	Lanes int `json:"lanes"`

	next int
}

// ProcessElement keys c with the next lane.
func (f *LaneFn) ProcessElement(c chunking.Chunk, emit func(int, chunking.Chunk)) {
	emit(f.next%f.Lanes, c)
	f.next++
}

// LaneOf is the partition function of keyed chunks: the lane LaneFn chose.
func LaneOf(lane int, _ chunking.Chunk) int { return lane }

// DropLane turns a keyed chunk back into the chunk.
func DropLane(_ int, c chunking.Chunk, emit func(chunking.Chunk)) { emit(c) }
