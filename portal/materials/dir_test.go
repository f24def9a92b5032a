package materials_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"tzportal/portal/materials"
)

func newDir(t *testing.T) materials.Dir {
	t.Helper()
	return materials.Dir{Root: filepath.Join(t.TempDir(), "data", "materials")}
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestDirPutGetDelete(t *testing.T) {
	ctx := context.Background()
	d := newDir(t)
	const key = "3f2a9c1e-7b4d-4e0a-9f1c-2d8e6b5a4c3b"
	data := []byte("%PDF-1.7\n租赁合同\n")
	if err := d.Put(ctx, key, data); err != nil {
		t.Fatal(err)
	}
	got, err := d.Get(ctx, key)
	if err != nil || string(got) != string(data) {
		t.Fatalf("Get = %q, %v", got, err)
	}
	path := filepath.Join(d.Root, "3", "f", key)
	if m := mode(t, path); m != 0o600 {
		t.Errorf("file mode %v, want 0600", m)
	}
	for _, dir := range []string{d.Root, filepath.Join(d.Root, "3"), filepath.Join(d.Root, "3", "f")} {
		if m := mode(t, dir); m != 0o700 {
			t.Errorf("%s: mode %v, want 0700", dir, m)
		}
	}

	// Put replaces, and leaves no temporary file behind.
	if err := d.Put(ctx, key, []byte("second")); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Get(ctx, key); string(got) != "second" {
		t.Errorf("after a second Put, Get = %q", got)
	}
	if tmp, err := d.Temporary(ctx); err != nil || len(tmp) != 0 {
		t.Errorf("Temporary = %q, %v", tmp, err)
	}

	// A one-character key and an empty file.
	if err := d.Put(ctx, "x", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Get(ctx, "x"); err != nil || len(got) != 0 {
		t.Errorf("Get(x) = %q, %v", got, err)
	}

	if err := d.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(ctx, key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get after Delete: err = %v, want fs.ErrNotExist", err)
	}
	if err := d.Delete(ctx, key); err != nil {
		t.Errorf("Delete of a missing file: %v", err)
	}
	if _, err := d.Get(ctx, "never-stored"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get of a missing key: err = %v, want fs.ErrNotExist", err)
	}
}

func TestDirBadKeys(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	d := materials.Dir{Root: filepath.Join(base, "materials")}
	bad := []string{
		"../x", "A", "", strings.Repeat("a", 65), "a/b", `a\b`, "..", ".", ".tmp-ab-1",
		"a b", "ab\x00", "é", "ab_c", "/etc/passwd", "a.pdf",
	}
	for _, key := range bad {
		if err := d.Put(ctx, key, []byte("x")); !errors.Is(err, materials.ErrKey) {
			t.Errorf("Put(%q): err = %v, want ErrKey", key, err)
		}
		if _, err := d.Get(ctx, key); !errors.Is(err, materials.ErrKey) {
			t.Errorf("Get(%q): err = %v, want ErrKey", key, err)
		}
		if err := d.Delete(ctx, key); !errors.Is(err, materials.ErrKey) {
			t.Errorf("Delete(%q): err = %v, want ErrKey", key, err)
		}
	}
	entries, err := os.ReadDir(base)
	if err != nil || len(entries) != 0 {
		t.Errorf("bad keys created %v (%v)", entries, err)
	}
	if err := d.Put(ctx, strings.Repeat("a", 64), []byte("x")); err != nil {
		t.Errorf("64 characters: %v", err)
	}
	if err := (materials.Dir{}).Put(ctx, "ab", nil); err == nil {
		t.Error("Put with an empty Root succeeded")
	}
}

func TestDirKeysAndTemporary(t *testing.T) {
	ctx := context.Background()
	d := newDir(t)
	if keys, err := d.Keys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("Keys of a missing Root = %q, %v", keys, err)
	}
	keys := []string{"b2", "a1", "a10", "z", "0-0"}
	for _, k := range keys {
		if err := d.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	// What a crash during Put leaves, and files that are not keys.
	write := func(rel string) {
		t.Helper()
		p := filepath.Join(d.Root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join("a", "1", ".tmp-a1-123456")
	write(tmp)
	write("README")
	write(filepath.Join("a", "1", "UPPER"))
	write(filepath.Join("a", "1", "b2")) // a key in the wrong directory
	write(filepath.Join("aa", "1", "aa1"))

	got, err := d.Keys(ctx)
	slices.Sort(keys)
	if err != nil || !slices.Equal(got, keys) {
		t.Errorf("Keys = %q, %v; want %q", got, err, keys)
	}
	temps, err := d.Temporary(ctx)
	if err != nil || !slices.Equal(temps, []string{tmp}) {
		t.Errorf("Temporary = %q, %v; want %q", temps, err, tmp)
	}

	for _, name := range []string{"a/1/a1", "../x/.tmp-a", "a/1/../../.tmp-x", ".tmp-x", "a/1/.tmp-x/y"} {
		if err := d.RemoveTemporary(ctx, name); err == nil {
			t.Errorf("RemoveTemporary(%q) succeeded", name)
		}
	}
	if _, err := d.Get(ctx, "a1"); err != nil {
		t.Errorf("a1 is gone: %v", err)
	}
	for range 2 { // the second time it is missing, which is fine
		if err := d.RemoveTemporary(ctx, tmp); err != nil {
			t.Fatal(err)
		}
	}
	if temps, _ := d.Temporary(ctx); len(temps) != 0 {
		t.Errorf("after RemoveTemporary: %q", temps)
	}

	orphans, err := d.Orphans(ctx, func(k string) (bool, error) { return k != "a10" && k != "z", nil })
	if err != nil || !slices.Equal(orphans, []string{"a10", "z"}) {
		t.Errorf("Orphans = %q, %v", orphans, err)
	}
	boom := errors.New("database down")
	if _, err := d.Orphans(ctx, func(string) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Errorf("Orphans: err = %v, want the lookup's", err)
	}
}

func TestDirCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := newDir(t)
	if err := d.Put(ctx, "ab", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put: err = %v", err)
	}
	if keys, _ := d.Keys(context.Background()); len(keys) != 0 {
		t.Errorf("a canceled Put stored %q", keys)
	}
	if _, err := d.Keys(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Keys: err = %v", err)
	}
}
