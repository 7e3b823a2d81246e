package reload

// SetAfterLoad makes Run call f between a load and the update of its
// watches, so a test can change a file inside that window.
func SetAfterLoad(r *Reloader, f func()) { r.afterLoad = f }
