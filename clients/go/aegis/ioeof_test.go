package aegis

import "io"

var ioEOF = io.EOF
