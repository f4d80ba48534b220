package ingest

// SetIngestSizes makes the ingest read text in chunks of chunk bytes, split
// and converted in pieces of piece bytes, and move rows to their batches
// stage rows at a time, until the returned function restores the defaults.
func SetIngestSizes(chunk, piece, stage int) (restore func()) {
	oldChunk, oldPiece, oldStage := chunkBytes, pieceBytes, stageRows
	chunkBytes, pieceBytes, stageRows = chunk, piece, stage
	return func() { chunkBytes, pieceBytes, stageRows = oldChunk, oldPiece, oldStage }
}
