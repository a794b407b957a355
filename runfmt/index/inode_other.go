//go:build !unix

package index

import "io/fs"

// inode is 0 where the platform has no inode numbers: the stamp then rests
// on size and modification time.
func inode(fs.FileInfo) uint64 { return 0 }
