package digest

import (
	htmltemplate "html/template"
	texttemplate "text/template"
	"text/template/parse"
)

// readerRoots are the fields of Data that differ from reader to reader.
var readerRoots = map[string]bool{"Reader": true, "UnsubscribeURL": true}

// fastPathSafe reports whether the templates use a reader's values only
// in the two ways the per-shape fast path (Issue) renders exactly: printed
// as they are ({{.Reader.Name}}), or tested for being empty
// ({{if .Reader.Name}}). A comparison, a function of a value, a range or
// with over one, a variable holding one, or a template called with one
// makes every reader render through the templates instead: a template
// that shows paid content when .Reader.Fields.plan is not "free" must
// never give it to a free reader.
func fastPathSafe(subject *texttemplate.Template, html *htmltemplate.Template, text *texttemplate.Template) bool {
	var trees []*parse.Tree
	for _, t := range subject.Templates() {
		trees = append(trees, t.Tree)
	}
	for _, t := range html.Templates() {
		trees = append(trees, t.Tree)
	}
	for _, t := range text.Templates() {
		trees = append(trees, t.Tree)
	}
	for _, tr := range trees {
		if tr != nil && tr.Root != nil && !safeNode(tr.Root) {
			return false
		}
	}
	return true
}

func safeNode(n parse.Node) bool {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return true
		}
		for _, c := range n.Nodes {
			if !safeNode(c) {
				return false
			}
		}
		return true
	case *parse.ActionNode:
		return !refsReader(n.Pipe) || plainValue(n.Pipe)
	case *parse.IfNode:
		return (!refsReader(n.Pipe) || plainValue(n.Pipe)) && safeNode(n.List) && safeNode(n.ElseList)
	case *parse.WithNode:
		return !refsReader(n.Pipe) && safeNode(n.List) && safeNode(n.ElseList)
	case *parse.RangeNode:
		return !refsReader(n.Pipe) && safeNode(n.List) && safeNode(n.ElseList)
	case *parse.TemplateNode:
		return n.Pipe == nil || !refsReader(n.Pipe)
	}
	return true // text, comments, break, continue
}

// plainValue: a pipeline that is one reader value, nothing else.
func plainValue(p *parse.PipeNode) bool {
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		return readerRoots[a.Ident[0]]
	case *parse.VariableNode:
		return len(a.Ident) > 1 && a.Ident[0] == "$" && readerRoots[a.Ident[1]]
	}
	return false
}

// refsReader reports whether a node mentions a reader's value anywhere.
func refsReader(n parse.Node) bool {
	switch n := n.(type) {
	case *parse.PipeNode:
		if n == nil {
			return false
		}
		for _, c := range n.Cmds {
			if refsReader(c) {
				return true
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if refsReader(a) {
				return true
			}
		}
	case *parse.FieldNode:
		return readerRoots[n.Ident[0]]
	case *parse.VariableNode:
		return len(n.Ident) > 1 && n.Ident[0] == "$" && readerRoots[n.Ident[1]]
	case *parse.ChainNode:
		if refsReader(n.Node) {
			return true
		}
		return len(n.Field) > 0 && readerRoots[n.Field[0]]
	}
	return false
}
