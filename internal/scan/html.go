package scan

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"golang.org/x/net/html"
)

// htmlFacts is what the heuristics learn from an HTML body.
type htmlFacts struct {
	text     string // the visible text
	mismatch string // a link whose text shows one host and goes to another
	hidden   string // text the reader cannot see
}

// voidElements have no end tag (HTML Living Standard §13.1.2).
var voidElements = map[string]bool{
	"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
	"input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true,
}

var (
	hostTextRE = regexp.MustCompile(`(?i)^(https?://)?((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,})(?::\d+)?(?:[/?#]\S*)?$`)
	fontZeroRE = regexp.MustCompile(`^0+(\.0+)?(px|pt|em|rem|%)?$`)
)

type element struct {
	name   string
	hidden bool
	color  string // the text colour in force
	bg     string // the background colour in force
}

// analyzeHTML reads an HTML document with the tokenizer of x/net/html.
func analyzeHTML(doc string) htmlFacts {
	var f htmlFacts
	var visible, hidden strings.Builder
	z := html.NewTokenizer(strings.NewReader(doc))
	stack := []element{{name: "#root"}}
	var href, linkText string
	inLink, skip := false, 0 // skip: inside <script>/<style>
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			f.text = visible.String()
			if h := strings.TrimSpace(hidden.String()); h != "" {
				f.hidden = cut(h, 80)
			}
			return f
		case html.StartTagToken, html.SelfClosingTagToken:
			t := z.Token()
			name := t.Data
			if name == "script" || name == "style" {
				if tt == html.StartTagToken {
					skip++
				}
				continue
			}
			top := stack[len(stack)-1]
			el := element{name: name, hidden: top.hidden, color: top.color, bg: top.bg}
			for _, a := range t.Attr {
				switch strings.ToLower(a.Key) {
				case "style":
					styleOf(&el, a.Val)
				case "bgcolor":
					el.bg = normColor(a.Val)
				case "color":
					if name == "font" {
						el.color = normColor(a.Val)
					}
				case "hidden":
					el.hidden = true
				case "href":
					if name == "a" {
						href = a.Val
					}
				}
			}
			if el.color != "" && el.color == el.bg {
				el.hidden = true
			}
			if name == "a" && tt == html.StartTagToken {
				inLink, linkText = true, ""
			}
			if tt == html.StartTagToken && !voidElements[name] {
				stack = append(stack, el)
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			n := string(name)
			if n == "script" || n == "style" {
				skip = max(0, skip-1)
				continue
			}
			if n == "a" && inLink {
				inLink = false
				if f.mismatch == "" {
					f.mismatch = linkMismatch(strings.TrimSpace(linkText), href)
				}
			}
			for i := len(stack) - 1; i > 0; i-- {
				if stack[i].name == n {
					stack = stack[:i]
					break
				}
			}
		case html.TextToken:
			if skip > 0 {
				continue
			}
			text := html.UnescapeString(string(z.Text()))
			if strings.TrimSpace(text) == "" {
				continue
			}
			if stack[len(stack)-1].hidden {
				hidden.WriteString(text + " ")
				continue
			}
			visible.WriteString(text + " ")
			if inLink {
				linkText += text
			}
		}
	}
}

// styleOf applies the declarations of a style attribute that hide text.
func styleOf(el *element, style string) {
	for _, decl := range strings.Split(style, ";") {
		k, v, ok := strings.Cut(decl, ":")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.ToLower(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "!important")))
		switch k {
		case "display":
			if v == "none" {
				el.hidden = true
			}
		case "visibility":
			if v == "hidden" {
				el.hidden = true
			}
		case "font-size", "max-height", "opacity":
			if fontZeroRE.MatchString(v) {
				el.hidden = true
			}
		case "color":
			el.color = normColor(v)
		case "background-color", "background":
			if fs := strings.Fields(v); len(fs) > 0 {
				el.bg = normColor(fs[0])
			}
		}
	}
}

// namedColors are the colour names hidden text uses most, as #rrggbb.
var namedColors = map[string]string{"white": "#ffffff", "black": "#000000", "red": "#ff0000"}

// normColor writes a colour as #rrggbb when it can, so "#FFF", "#ffffff"
// and "white" compare equal.
func normColor(c string) string {
	c = strings.ToLower(strings.TrimSpace(c))
	if n, ok := namedColors[c]; ok {
		return n
	}
	if len(c) == 4 && c[0] == '#' {
		return "#" + strings.Repeat(c[1:2], 2) + strings.Repeat(c[2:3], 2) + strings.Repeat(c[3:4], 2)
	}
	var r, g, b int
	if _, err := fmt.Sscanf(c, "rgb(%d,%d,%d)", &r, &g, &b); err == nil {
		return fmt.Sprintf("#%02x%02x%02x", r, g, b)
	}
	return c
}

// linkMismatch: the text of a link shows a host (a URL or a domain name),
// and the link goes to another one.
func linkMismatch(text, href string) string {
	m := hostTextRE.FindStringSubmatch(text)
	if m == nil {
		return ""
	}
	shown := strings.ToLower(m[2])
	u, err := url.Parse(strings.TrimSpace(href))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return ""
	}
	target := strings.ToLower(u.Hostname())
	if sameSite(shown, target) {
		return ""
	}
	return fmt.Sprintf("text shows %s, link goes to %s", shown, target)
}

// sameSite: equal, or one a subdomain of the other, "www." aside.
func sameSite(a, b string) bool {
	a, b = strings.TrimPrefix(a, "www."), strings.TrimPrefix(b, "www.")
	return a == b || strings.HasSuffix(a, "."+b) || strings.HasSuffix(b, "."+a)
}

func cut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
