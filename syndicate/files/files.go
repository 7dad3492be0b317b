// Package files is the one way the bot reads a file it did not write:
// articles and the pictures they name, and the files the config names.
//
// Files dropped into the articles folder come from many hands, so every
// read here is confined, non-blocking and bounded:
//   - a file named by an article is opened inside its folder (os.Root):
//     "..", an absolute path or a symlink that leaves the folder is
//     refused, however it is spelt;
//   - only regular files are read: a FIFO, device, socket or folder is
//     refused without being read (it is opened non-blocking and checked
//     with fstat, so a FIFO cannot hang a run), and so is a file with more
//     than one hard link (a link may reach outside the folder);
//   - no read takes more than its limit.
package files

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Problem is a file the bot refuses to read, with the reason in words.
type Problem struct {
	Path   string
	Reason string
	Err    error // the underlying error, when there is one
}

func (p *Problem) Error() string { return p.Path + ": " + p.Reason }
func (p *Problem) Unwrap() error { return p.Err }

// Errors a caller may test with errors.Is.
var (
	ErrOutside    = errors.New("outside the allowed folders")
	ErrNotRegular = errors.New("not a regular file")
	ErrTooLarge   = errors.New("over the size limit")
)

// Folder is a directory files are read from, confined to it.
type Folder struct {
	dir  string // absolute and clean
	root *os.Root
}

// OpenFolder opens dir for confined reads. Close it when done.
func OpenFolder(dir string) (*Folder, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, err
	}
	return &Folder{dir: abs, root: root}, nil
}

// Dir is the folder's absolute path.
func (f *Folder) Dir() string { return f.dir }

// Close releases the folder.
func (f *Folder) Close() error { return f.root.Close() }

// ReadDir lists the folder (not its subfolders).
func (f *Folder) ReadDir() ([]fs.DirEntry, error) {
	return fs.ReadDir(f.root.FS(), ".")
}

// Lstat describes a name in the folder without following a symlink.
func (f *Folder) Lstat(name string) (fs.FileInfo, error) { return f.root.Lstat(name) }

// Rel returns path relative to the folder, or ErrOutside when the path
// (after cleaning, before any symlink) is not inside it.
func (f *Folder) Rel(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(f.dir, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", ErrOutside
	}
	return rel, nil
}

// Open opens a regular file inside the folder without blocking; name is
// relative to the folder. The caller closes the file.
func (f *Folder) Open(name string) (*os.File, fs.FileInfo, error) {
	file, err := f.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, openProblem(filepath.Join(f.dir, name), err)
	}
	fi, err := regular(file)
	if err != nil {
		file.Close()
		return nil, nil, err
	}
	// os.Root checks names, not inodes: a hard link inside the folder to
	// a file outside it (a private key) would pass. Such a file is
	// refused; a copy is not.
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		file.Close()
		return nil, nil, &Problem{Path: filepath.Join(f.dir, name), Reason: fmt.Sprintf("has %d hard links, so it may be a file from outside its folder: refused (copy it instead of linking it)", st.Nlink), Err: ErrOutside}
	}
	return file, fi, nil
}

// ReadFile reads a regular file inside the folder, at most limit bytes:
// a longer file is ErrTooLarge, and nothing past the limit is read.
func (f *Folder) ReadFile(name string, limit int64) ([]byte, fs.FileInfo, error) {
	file, fi, err := f.Open(name)
	if err != nil {
		return nil, nil, err
	}
	defer file.Close()
	data, err := readLimited(file, fi, limit)
	return data, fi, err
}

// ReadFile reads a regular file named by the config (not confined: the
// person running the bot chose it), without blocking and at most limit
// bytes.
func ReadFile(path string, limit int64) ([]byte, error) {
	file, err := OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return nil, err
	}
	return readLimited(file, fi, limit)
}

// OpenFile opens a regular file named by the config without blocking, for
// streaming (the subscriber list).
func OpenFile(path string) (*os.File, error) {
	file, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	if _, err := regular(file); err != nil {
		file.Close()
		return nil, err
	}
	// Reads of a regular file never block; clear O_NONBLOCK so the file
	// behaves as usual for the reader.
	if err := syscall.SetNonblock(int(file.Fd()), false); err != nil {
		file.Close()
		return nil, err
	}
	return file, nil
}

func regular(file *os.File) (fs.FileInfo, error) {
	fi, err := file.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &Problem{Path: file.Name(), Reason: "is " + kind(fi.Mode()) + ", not a regular file", Err: ErrNotRegular}
	}
	return fi, nil
}

func readLimited(file *os.File, fi fs.FileInfo, limit int64) ([]byte, error) {
	if fi.Size() > limit {
		return nil, &Problem{Path: file.Name(), Reason: fmt.Sprintf("is %s, over the %s limit", Size(fi.Size()), Size(limit)), Err: ErrTooLarge}
	}
	// One byte past the limit tells a file that grew since fstat.
	data, err := io.ReadAll(io.LimitReader(file, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &Problem{Path: file.Name(), Reason: fmt.Sprintf("is over the %s limit", Size(limit)), Err: ErrTooLarge}
	}
	return data, nil
}

// openProblem says in words why a confined open failed.
func openProblem(path string, err error) error {
	var pe *fs.PathError
	msg := err.Error()
	if errors.As(err, &pe) {
		msg = pe.Err.Error()
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &Problem{Path: path, Reason: "not found", Err: err}
	case strings.Contains(msg, "escapes from parent") || strings.Contains(msg, "path escapes"):
		return &Problem{Path: path, Reason: "leaves its folder (through .. or a symlink): refused", Err: ErrOutside}
	case errors.Is(err, syscall.ELOOP):
		return &Problem{Path: path, Reason: "is a symlink that cannot be followed inside its folder: refused", Err: ErrOutside}
	case errors.Is(err, fs.ErrPermission):
		return &Problem{Path: path, Reason: "cannot be read: permission denied", Err: err}
	}
	return &Problem{Path: path, Reason: "cannot be read: " + msg, Err: err}
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO (named pipe)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	}
	return "not a regular file"
}

// Size formats a byte count for people: 512 bytes, 1.5 MiB.
func Size(n int64) string {
	switch {
	case n >= 1<<20:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<20))) + " MiB"
	case n >= 1<<10:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<10))) + " KiB"
	}
	return fmt.Sprintf("%d bytes", n)
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }

// WriteFile writes data to dir/name through a temporary file renamed into
// place: a symlink planted at dir/name is replaced, never followed, and a
// reader never sees half a file. The file gets perm (outputs that hold a
// reader's address are 0600).
func WriteFile(dir, name string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, name))
}
