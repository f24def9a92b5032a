package validate

import (
	"os"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// loadMessages reads a go-i18n message file in the simple form (id: text).
func loadMessages(tb testing.TB, lang string) map[string]string {
	tb.Helper()
	name := "../../i18n/validate." + lang + ".yaml"
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	m := map[string]string{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return m
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestTranslations(t *testing.T) {
	langs := []string{"zh-CN", "en"}
	files := map[string]map[string]string{}
	for _, lang := range langs {
		files[lang] = loadMessages(t, lang)
	}
	for _, lang := range langs {
		for _, tag := range Tags() {
			if files[lang]["validation."+tag] == "" {
				t.Errorf("%s: no message validation.%s", lang, tag)
			}
		}
	}
	if diff := cmp.Diff(keys(files["zh-CN"]), keys(files["en"])); diff != "" {
		t.Errorf("message ids differ (-zh-CN +en):\n%s", diff)
	}
	want := map[string]bool{}
	for _, tag := range Tags() {
		want["validation."+tag] = true
	}
	for _, lang := range langs {
		for k := range files[lang] {
			if !want[k] {
				t.Errorf("%s: message %s is for no tag in Tags()", lang, k)
			}
		}
	}
}
