package certificate_test

import (
	"testing"

	"tzportal/portal/certificate"
)

func TestMaskHolder(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"张", "张"},
		{"张三", "张*"},
		{"王小明", "王**"},
		{"欧阳娜娜", "欧***"},
		{"Anna", "A***"},
		{"阿依古丽·买买提", "阿*******"},
	}
	for _, tt := range tests {
		if got := certificate.MaskHolder(tt.in); got != tt.want {
			t.Errorf("MaskHolder(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"321202199001010017", "3212**********0017"},
		{"32120219900101001X", "3212**********001X"},
		{"", ""},
		{"321202900101001", "***************"}, // old 15-digit ID
		{"3212021990010100170", "*******************"},
		{"1234", "****"},
	}
	for _, tt := range tests {
		if got := certificate.MaskID(tt.in); got != tt.want {
			t.Errorf("MaskID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
