package source

import "time"

// SetMeasureTime sets the time a fetch may spend measuring pictures and
// returns what puts it back.
func SetMeasureTime(d time.Duration) (restore func()) {
	old := measureTime
	measureTime = d
	return func() { measureTime = old }
}
