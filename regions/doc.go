// Package regions reports how far each read-only region is behind the
// central log of record: MirrorMaker 2's replication lag per mirrored
// partition (the central end offset against the source offset MirrorMaker
// has committed for it, and the age of the newest record in the mirror),
// and the lag of the regional projectors' consumer groups against the
// mirror's end offsets. It only reads: it creates, alters and commits
// nothing on either cluster. docs/regions.md describes the topology.
package regions
