module github.com/keycard-gw/keycard

go 1.26.0

require gopkg.in/yaml.v3 v3.0.1

require github.com/golang-jwt/jwt/v5 v5.3.1
