// Package compiler owns the policy language: it reads one policy from one
// or more YAML files, checks it with precise, positioned errors, and turns
// it into a decision table (package table) and a filter configuration
// (package config).
//
// Parsing keeps yaml.Nodes so that every value carries its file, line and
// column. Errors are collected, sorted and capped, never first-only.
package compiler
