package main

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
)

// cmdCompletion prints a completion script for bash, zsh or fish: the
// commands, and each command's flags as its own --help lists them.
func cmdCompletion(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: keycard completion bash|zsh|fish")
		return 2
	}
	flags := map[string][]string{}
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
		if c.name == "completion" {
			continue
		}
		helpArgs := []string{c.name, "--help"}
		switch c.name {
		case "render":
			helpArgs = []string{"render", "kong", "--help"}
		case "image":
			helpArgs = []string{"image", "build", "--help"}
		}
		var out bytes.Buffer
		run(helpArgs, &out, io.Discard)
		for _, line := range strings.Split(out.String(), "\n") {
			if f, ok := strings.CutPrefix(line, "  -"); ok {
				name := strings.Fields(f)[0]
				dash := "--"
				if len(name) == 1 {
					dash = "-"
				}
				flags[c.name] = append(flags[c.name], dash+name)
			}
		}
		sort.Strings(flags[c.name])
	}
	var b strings.Builder
	switch args[0] {
	case "bash":
		b.WriteString("# keycard completion for bash: source <(keycard completion bash)\n_keycard() {\n")
		b.WriteString("  local cur=${COMP_WORDS[COMP_CWORD]} cmd=${COMP_WORDS[1]}\n")
		fmt.Fprintf(&b, "  if [ \"$COMP_CWORD\" -eq 1 ]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(names, " "))
		b.WriteString("  case $cmd in\n")
		caseArms(&b, names, flags, func(words string) string {
			return fmt.Sprintf("if [ \"$COMP_CWORD\" -eq 2 ]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi", words)
		}, func(words string) string {
			return fmt.Sprintf("if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi", words)
		})
		b.WriteString("    completion) COMPREPLY=($(compgen -W \"bash zsh fish\" -- \"$cur\")); return;;\n")
		b.WriteString("  esac\n  COMPREPLY=($(compgen -f -- \"$cur\"))\n}\ncomplete -o filenames -F _keycard keycard\n")
	case "zsh":
		b.WriteString("#compdef keycard\n# keycard completion for zsh: keycard completion zsh > \"${fpath[1]}/_keycard\"\n_keycard() {\n")
		fmt.Fprintf(&b, "  if (( CURRENT == 2 )); then compadd %s; return; fi\n", strings.Join(names, " "))
		b.WriteString("  case ${words[2]} in\n")
		caseArms(&b, names, flags, func(words string) string {
			return "if (( CURRENT == 3 )); then compadd " + words + "; return; fi"
		}, func(words string) string {
			return "if [[ ${words[CURRENT]} == -* ]]; then compadd -- " + words + "; return; fi"
		})
		b.WriteString("    completion) compadd bash zsh fish; return;;\n")
		b.WriteString("  esac\n  _files\n}\ncompdef _keycard keycard\n")
	case "fish":
		b.WriteString("# keycard completion for fish: keycard completion fish > ~/.config/fish/completions/keycard.fish\n")
		for _, c := range commands() {
			fmt.Fprintf(&b, "complete -c keycard -n __fish_use_subcommand -a %s -d %q\n", c.name, c.help)
		}
		for _, n := range names {
			for _, f := range flags[n] {
				opt := "-l " + strings.TrimPrefix(f, "--")
				if !strings.HasPrefix(f, "--") {
					opt = "-s " + strings.TrimPrefix(f, "-")
				}
				fmt.Fprintf(&b, "complete -c keycard -n '__fish_seen_subcommand_from %s' %s\n", n, opt)
			}
		}
		b.WriteString("complete -c keycard -n '__fish_seen_subcommand_from render' -a '" + strings.Join(renderTargets, " ") + "'\n")
		b.WriteString("complete -c keycard -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'\n")
	default:
		fmt.Fprintf(stderr, "keycard completion: %q: bash, zsh or fish\n", args[0])
		return 2
	}
	return writeOrFail(stdout, stderr, b.String())
}

// caseArms writes a shell case's arm per command (a case takes the first
// match): render's gateways first, then the command's flags, each as the
// shell's own function makes it of the words to offer.
func caseArms(b *strings.Builder, names []string, flags map[string][]string, gateways, flagWords func(words string) string) {
	for _, n := range names {
		var arm []string
		if n == "render" {
			arm = append(arm, gateways(strings.Join(renderTargets, " ")))
		}
		if len(flags[n]) > 0 {
			arm = append(arm, flagWords(strings.Join(flags[n], " ")))
		}
		if len(arm) > 0 {
			fmt.Fprintf(b, "    %s) %s;;\n", n, strings.Join(arm, "; "))
		}
	}
}
