package asgserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// verifySignature checks r's SigV4 Authorization header by signing the same
// request again with the server's credentials, so that a client whose
// signing is broken (wrong service, region or key) fails here as it would
// at AWS. It returns the region the request was signed for.
func (s *Server) verifySignature(r *http.Request, body []byte) (string, *apiError) {
	auth := r.Header.Get("Authorization")
	scheme, rest, ok := strings.Cut(auth, " ")
	if !ok || scheme != "AWS4-HMAC-SHA256" {
		return "", &apiError{status: http.StatusForbidden, code: "MissingAuthenticationToken", message: "Request is missing Authentication Token"}
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/") // AKID/date/region/service/aws4_request
	if len(scope) != 5 || scope[4] != "aws4_request" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return "", &apiError{status: http.StatusForbidden, code: "IncompleteSignature", message: "Authorization header is malformed: " + auth}
	}
	if scope[0] != s.AccessKeyID {
		return "", &apiError{status: http.StatusForbidden, code: "InvalidClientTokenId", message: "The security token included in the request is invalid."}
	}
	region, service := scope[2], scope[3]
	if service != "autoscaling" {
		return "", &apiError{status: http.StatusForbidden, code: "SignatureDoesNotMatch", message: "Credential should be scoped to correct service: 'autoscaling'."}
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "", &apiError{status: http.StatusForbidden, code: "IncompleteSignature", message: "X-Amz-Date is missing or malformed"}
	}

	again, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return "", &apiError{status: http.StatusBadRequest, code: "MalformedQueryString", message: err.Error()}
	}
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		switch h {
		case "host":
		case "content-length":
			again.ContentLength = int64(len(body))
		default:
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	if !strings.Contains(";"+fields["SignedHeaders"]+";", ";content-length;") {
		again.ContentLength = 0
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), service, region, at); err != nil {
		return "", &apiError{status: http.StatusInternalServerError, code: "InternalFailure", message: err.Error()}
	}
	if !strings.HasSuffix(again.Header.Get("Authorization"), "Signature="+fields["Signature"]) {
		return "", &apiError{status: http.StatusForbidden, code: "SignatureDoesNotMatch", message: "The request signature we calculated does not match the signature you provided."}
	}
	return region, nil
}
