package materials

// Internals the external tests exercise directly.
var (
	ExifOrientation = exifOrientation
	TooManyScans    = tooManyScans
	Orient          = orient
)

// MaxScans is the scan limit of a JPEG.
const MaxScans = maxScans
