package warehouse

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrLocked is returned when another writer holds the warehouse lock.
var ErrLocked = errors.New("warehouse is locked by another writer")

// LockHolder is what DATA/LOCK records about the writer holding it.
type LockHolder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Command string    `json:"command"`
	Started time.Time `json:"started"`
}

// Lock is the single-writer lock of a warehouse.
type Lock struct {
	path string
}

// AcquireLock takes DATA/LOCK for this process, failing at once with
// ErrLocked (naming the lock file, the holder's pid and start time) when a
// live process holds it. A lock left by a dead process on this host is taken over.
func AcquireLock(dataDir, command string) (*Lock, error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dataDir, "LOCK")
	host, _ := os.Hostname()
	me := LockHolder{PID: os.Getpid(), Host: host, Command: command, Started: time.Now().UTC().Truncate(time.Second)}
	body, _ := json.Marshal(me)
	for attempt := 0; attempt < 3; attempt++ {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			_, werr := f.Write(append(body, '\n'))
			serr := f.Sync()
			cerr := f.Close()
			if err := errors.Join(werr, serr, cerr); err != nil {
				os.Remove(path)
				return nil, fmt.Errorf("write %s: %w", path, err)
			}
			return &Lock{path: path}, SyncDir(dataDir)
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		holder, rerr := readLock(path)
		if rerr != nil {
			// A lock being written right now, or a torn one from a crash during
			// its write: give the writer a moment, then treat it as stale.
			time.Sleep(100 * time.Millisecond)
			if holder, rerr = readLock(path); rerr != nil {
				if info, serr := os.Stat(path); serr == nil && time.Since(info.ModTime()) > 2*time.Second {
					os.Remove(path)
				}
				continue
			}
		}
		if holder.Host == host && !processAlive(holder.PID) {
			// Stale: its process is gone. Remove and retry the exclusive create,
			// so two processes taking over at once still end with one owner.
			os.Remove(path)
			continue
		}
		return nil, fmt.Errorf("%w: %s is held by pid %d on %s (%s) since %s; if that process is gone, remove the file",
			ErrLocked, path, holder.PID, holder.Host, holder.Command, holder.Started.Format(time.RFC3339))
	}
	return nil, fmt.Errorf("%w: could not take %s", ErrLocked, path)
}

func readLock(path string) (LockHolder, error) {
	var h LockHolder
	b, err := os.ReadFile(path)
	if err != nil {
		return h, err
	}
	return h, json.Unmarshal(b, &h)
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Release removes the lock. It is safe to call more than once.
func (l *Lock) Release() error {
	if l == nil || l.path == "" {
		return nil
	}
	err := os.Remove(l.path)
	l.path = ""
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
