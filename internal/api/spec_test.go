package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// The request and response examples of the spec (product-and-project-api.txt),
// and the shapes protocol-notes.md gives for the calls clients use beside
// them. Requests are the spec's, field for field, with {{...}} standing for
// the real tokens of the fixture. Responses are the spec's examples, fixed
// only where the spec's text is not valid JSON (a missing closing brace in
// getProductTags, an unquoted {productToken} in saveProductTag, the cut-off
// end of getOrganizationProjectTags). getProjectTags shows its values as
// plain strings; Tally answers lists as every other tag read does and the
// live service does (docs/api.md, "Tags"), so that example is written with
// lists here.
type specCase struct {
	golden   string // golden file name; the requestType unless repeated
	request  string
	response string // the spec's example, for the shape check ("" when none)
	// setup runs before the request (e.g. to name a token it creates).
	after func(f *specFixture, res result)
}

// The spec's hierarchy example, used as the fixture's inventory.
var specLibs = []lib{
	{uuid: "1f9ee6ec-eded-45d3-8fdb-2d0d735e5b14", filename: "log4j-1.2.17.jar", name: "log4j", group: "log4j", artifact: "log4j", version: "1.2.17",
		sha1: "5af35056b4d257e4b64b9e8069c0746e8b08629f", typ: "UNKNOWN_ARTIFACT", root: true, matchType: "FILENAME"},
	{uuid: "f362c53f-ce25-4d0c-b53b-ee2768b32d1a", filename: "akka-actor_2.11-2.5.2.jar", name: "akka-actor", group: "com.typesafe.akka", artifact: "akka-actor_2.11", version: "2.5.2",
		sha1: "183ccaed9002bfa10628a5df48e7bac6f1c03f7b", typ: "MAVEN_ARTIFACT", root: true, matchType: "SHA1", licenses: `["Apache 2.0"]`,
		children: []string{"49c6840d-bf96-470f-8892-6c2a536c91eb", "426c0056-f180-4cac-a9dd-c266a76b32c9"}},
	{uuid: "49c6840d-bf96-470f-8892-6c2a536c91eb", filename: "scala-library-2.11.11.jar", name: "Scala Library", group: "org.scala-lang", artifact: "scala-library", version: "2.11.11",
		sha1: "e283d2b7fde6504f6a86458b1f6af465353907cc", typ: "MAVEN_ARTIFACT", matchType: "SHA1", licenses: `["BSD 3"]`},
	{uuid: "426c0056-f180-4cac-a9dd-c266a76b32c9", filename: "config-1.3.1.jar", name: "config", group: "com.typesafe", artifact: "config", version: "1.3.1",
		sha1: "2cf7a6cc79732e3bdf1647d7404279900ca63eb0", typ: "UNKNOWN_ARTIFACT", matchType: "SHA1"},
	{uuid: "25a8ceaa-4548-4fe4-9819-8658b8cbe9aa", filename: "kafka-clients-0.10.2.1.jar", name: "Apache Kafka", group: "org.apache.kafka", artifact: "kafka-clients", version: "0.10.2.1",
		sha1: "3dd2aa4c9f87ac54175d017bcb63b4bb5dca63dd", typ: "MAVEN_ARTIFACT", root: true, matchType: "SHA1",
		children: []string{"71065ffb-e509-4e2d-88bc-9184bc50888d", "e44ab569-de95-4562-8efa-a2ebfe808471"}},
	{uuid: "71065ffb-e509-4e2d-88bc-9184bc50888d", filename: "lz4-1.3.0.jar", name: "LZ4 and xxHash", group: "net.jpountz.lz4", artifact: "lz4", version: "1.3.0",
		sha1: "c708bb2590c0652a642236ef45d9f99ff842a2ce", typ: "MAVEN_ARTIFACT", matchType: "SHA1"},
	{uuid: "e44ab569-de95-4562-8efa-a2ebfe808471", filename: "slf4j-api-1.7.21.jar", name: "SLF4J API Module", group: "org.slf4j", artifact: "slf4j-api", version: "1.7.21",
		sha1: "139535a69a4239db087de9bab0bee568bf8e0b70", typ: "MAVEN_ARTIFACT", matchType: "SHA1", licenses: `["MIT"]`},
}

const akkaUUID = "f362c53f-ce25-4d0c-b53b-ee2768b32d1a"

// specFixture is the data the spec's examples talk about.
type specFixture struct {
	*rig
	norm normalizer
	vars map[string]string
}

func newSpecFixture(t *testing.T) *specFixture {
	r := newRig(t)
	f := &specFixture{rig: r, vars: map[string]string{}}
	key, org := r.Admin.UserKey, r.Admin.OrgToken
	f.set("userKey", key)
	f.set("orgToken", org)

	productA := r.CreateProduct("My Product A")
	productB := r.CreateProduct("productB")
	f.set("productToken", productA)
	f.set("productBToken", productB)
	for _, kv := range [][2]string{{"newKey", "newValue"}, {"newKey", "newValue2"}, {"tagKeyA", "tagValueA"}} {
		r.mustOK(req("saveProductTag", key, "productToken", productA, "tagKey", kv[0], "tagValue", kv[1]))
	}
	project1 := r.CreateProject(productA, "My Project 1")
	project2 := r.CreateProject(productA, "My Project 2")
	f.set("projectToken", project1)
	f.set("project2Token", project2)
	for _, kv := range [][2]string{{"Component", "Database"}, {"Module", "Server"}} {
		r.mustOK(req("saveProjectTag", key, "projectToken", project1, "tagKey", kv[0], "tagValue", kv[1]))
	}
	ids := r.seedInventory(org, project1, specLibs)
	r.seedSourceFile(project1, ids[akkaUUID], "6bf3b8ddfecac64a916ba69de50e9faac70992ba", "x509_obj.c",
		`C:\Users\Work1\Documents\FSA\GITHUB-downloads\openssl_openssl_OpenSSL_0_9_4_openssl_openssl_OpenSSL_0_9_4_crypto_x509_x509_obj.c`)
	f.vars["keyUuid"] = akkaUUID
	for _, l := range specLibs {
		f.norm.name(l.uuid, "<keyUuid:"+l.name+">")
	}
	f.set("requestToken", "support-token-0001")
	r.seedRequest(org, productA, project1, "support-token-0001", "FINISHED", recentMillis)
	return f
}

// set names a fixture value for requests ({{name}}) and for the golden
// files (<name>).
func (f *specFixture) set(name, value string) {
	f.vars[name] = value
	f.norm.name(value, "<"+name+">")
}

func (f *specFixture) expand(tmpl string) string {
	for k, v := range f.vars {
		tmpl = strings.ReplaceAll(tmpl, "{{"+k+"}}", v)
	}
	if i := strings.Index(tmpl, "{{"); i >= 0 {
		f.t.Fatalf("request template has an unset placeholder: %s", tmpl[i:])
	}
	return tmpl
}

// specCases run in order on one fixture: the reads first, then the writes,
// each followed by the reads that show what it did.
var specCases = []specCase{
	// Reads of the fixture.
	{golden: "getProductTags", request: `{ "requestType": "getProductTags", "userKey": "{{userKey}}", "productToken": "{{productToken}}" }`,
		response: `{ "productTags":[ { "name": "My Product A", "token": "product_token", "tags": { "newKey": [ "newValue", "newValue2" ], "tagKeyA": [ "tagValueA" ] } } ] }`},
	{golden: "getOrganizationProductTags", request: `{ "requestType": "getOrganizationProductTags", "userKey": "{{userKey}}", "orgToken": "{{orgToken}}" }`,
		response: `{ "productTags": [ { "name": "productA", "token": " productAToken", "tags": { "newKey": [ "newValue", "newValue2" ], "tagKeyA": [ "tagValueA" ] } }, { "name": " productB", "token": " productBToken", "tags": {} } ] }`},
	{golden: "getOrganizationProjectTags", request: `{ "requestType" : "getOrganizationProjectTags", "userKey": "{{userKey}}", "orgToken" : "{{orgToken}}" }`,
		response: `{ "projectTags": [ { "name": "Edge Services - 1.29.0", "token": "project_token", "tags": {} }, { "name": "WST_464", "token": "project_token", "tags": { "AlertsTag1": [ "Production" ], "AlertsTag2": [ "Development" ] } }, { "name": "docker-maven-plugin", "token": "project_token", "tags": { "status": [ "production" ] } } ] }`},
	{golden: "getProductProjectTags", request: `{ "requestType" : "getProductProjectTags", "userKey": "{{userKey}}", "productToken" : "{{productToken}}" }`,
		response: `{ "projectTags": [ { "name": "NewPy", "token": "project_token", "tags": {} }, { "name": "maven-simple", "token": "project_token", "tags": {} }, { "name": "docker-maven-plugin", "token": "project_token", "tags": { "status": [ "production" ] } } ] }`},
	{golden: "getProjectTags", request: `{ "requestType" : "getProjectTags", "userKey": "{{userKey}}", "projectToken" : "{{projectToken}}" }`,
		response: `{ "projectTags":[ { "name": "My Project 1", "token": "project_token_1", "tags":{ "Component": ["Database"], "Module": ["Server"] } }, { "name": "My Project 2", "token": "project_token_2", "tags":{} } ] }`},
	{golden: "getProjectTags-empty", request: `{ "requestType" : "getProjectTags", "userKey": "{{userKey}}", "projectToken" : "{{project2Token}}" }`,
		response: `{ "projectTags":[ { "name": "My Project 2", "token": "project_token_2", "tags":{} } ] }`},
	{golden: "getProjectHierarchy", request: `{ "requestType" : "getProjectHierarchy", "userKey": "{{userKey}}", "projectToken" : "{{projectToken}}", "includeInHouseData" : true }`,
		response: `{ "libraries": [ { "keyUuid": "1f9ee6ec-eded-45d3-8fdb-2d0d735e5b14", "keyId": 43, "filename": "log4j-1.2.17.jar", "name": "log4j", "groupId": "log4j", "artifactId": "log4j", "version": "1.2.17", "sha1": "5af35056b4d257e4b64b9e8069c0746e8b08629f", "type": "UNKNOWN_ARTIFACT", "coordinates": "log4j:log4j:1.2.17" }, { "keyUuid": "f362c53f-ce25-4d0c-b53b-ee2768b32d1a", "keyId": 45, "filename": "akka-actor_2.11-2.5.2.jar", "name": "akka-actor", "groupId": "com.typesafe.akka", "artifactId": "akka-actor_2.11", "version": "2.5.2", "sha1": "183ccaed9002bfa10628a5df48e7bac6f1c03f7b", "type": "MAVEN_ARTIFACT", "coordinates": "com.typesafe.akka:akka-actor_2.11:2.5.2", "dependencies": [ { "keyUuid": "49c6840d-bf96-470f-8892-6c2a536c91eb", "keyId": 44, "filename": "scala-library-2.11.11.jar", "name": "Scala Library", "groupId": "org.scala-lang", "artifactId": "scala-library", "version": "2.11.11", "sha1": "e283d2b7fde6504f6a86458b1f6af465353907cc", "type": "MAVEN_ARTIFACT", "coordinates": "org.scala-lang:scala-library:2.11.11" } ] } ] }`},
	{golden: "getProjectInventory", request: `{ "requestType" : "getProjectInventory", "userKey": "{{userKey}}", "projectToken" : "{{projectToken}}", "includeInHouseData" : true }`,
		response: `{"projectVitals":{ "productName": "fsa", "name": "fsa", "token": "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", "creationDate": "2017-06-17 07:12:29", "lastUpdatedDate": "2017-06-17 07:34:31" }, "libraries":[ { "keyUuid": "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", "keyId": 24559109, "name": "comm-2.0.3.jar", "artifactId": "comm-2.0.3.jar", "type": "MAVEN_ARTIFACT", "licenses":[], "vulnerabilities":[], "outdated": false, "matchType": "FILENAME" }]}`},
	{golden: "getProjectState", request: `{ "requestType":"getProjectState", "userKey": "{{userKey}}", "projectToken":"{{projectToken}}" }`,
		response: `{ "projectState": { "lastProcess": "SETUP", "inProgress": false, "date": "2020-03-09" } }`},
	{golden: "getLibrarySourceFiles", request: `{ "requestType":"getLibrarySourceFiles", "userKey": "{{userKey}}", "projectToken":"{{projectToken}}", "keyUuid":"{{keyUuid}}" }`,
		response: `{"sourceFiles":[{ "sha1":"6bf3b8ddfecac64a916ba69de50e9faac70992ba", "name":"x509_obj.c", "path":"C:\\Users\\Work1\\Documents\\FSA\\GITHUB-downloads\\openssl_openssl_OpenSSL_0_9_4_openssl_openssl_OpenSSL_0_9_4_crypto_x509_x509_obj.c"}] }`},
	{golden: "getProjectLibraryDependencies", request: `{ "requestType":"getProjectLibraryDependencies", "userKey": "{{userKey}}", "projectToken":"{{projectToken}}", "keyUuid":"{{keyUuid}}" }`,
		response: `{ "dependencies":[ [ { "keyUuid":"0b6a3818-ed95-4190-b40d-0d0d9ca51166", "name":"CDI APIs", "groupId":"javax.enterprise", "artifactId":"cdi-api", "version":"1.0", "classifier":"", "scope":"COMPILE", "extension":"jar", "sha1":"44c453f60909dfc223552ace63e05c694215156b", "dependencies":[ ], "licenses":[ { "name":"Apache 2.0", "url":"http://www.opensource.org/licenses/Apache-2.0" } ] } ] ] }`},
	{golden: "getRequestState", request: `{ "requestType" : "getRequestState", "userKey": "{{userKey}}", "orgToken" : "{{orgToken}}", "requestToken" : "{{requestToken}}" }`,
		response: `{ "requestState": "FINISHED", "timestamp": "2018-02-28T17:48:19Z" }`},
	{golden: "getRequestState-unknown", request: `{ "requestType" : "getRequestState", "userKey": "{{userKey}}", "orgToken" : "{{orgToken}}", "requestToken" : "no-such-request" }`,
		response: `{ "requestState": "UNKNOWN" }`},
	// The calls of protocol-notes.md.
	{golden: "getAllProducts", request: `{"requestType":"getAllProducts","userKey":"{{userKey}}","orgToken":"{{orgToken}}"}`,
		response: `{"products":[{"productId":1,"productName":"","productToken":""}]}`},
	{golden: "getAllProjects", request: `{"requestType":"getAllProjects","userKey":"{{userKey}}","productToken":"{{productToken}}"}`,
		response: `{"projects":[{"projectId":1,"projectName":"","projectToken":""}]}`},
	{golden: "getOrganizationDetails", request: `{"requestType":"getOrganizationDetails","userKey":"{{userKey}}","orgToken":"{{orgToken}}"}`,
		response: `{"orgName":"","orgToken":"","creationDate":"","numberOfProducts":1,"numberOfProjects":1,"numberOfUsers":1,"numberOfGroups":0}`},
	{golden: "getOrganizationProductVitals", request: `{"requestType":"getOrganizationProductVitals","userKey":"{{userKey}}","orgToken":"{{orgToken}}"}`,
		response: `{"productVitals":[{"name":"","token":"","creationDate":"","lastUpdatedDate":""}]}`},
	{golden: "getOrganizationProjectVitals", request: `{"requestType":"getOrganizationProjectVitals","userKey":"{{userKey}}","orgToken":"{{orgToken}}"}`,
		response: projectVitalsShape},
	{golden: "getProductProjectVitals", request: `{"requestType":"getProductProjectVitals","userKey":"{{userKey}}","productToken":"{{productToken}}"}`,
		response: projectVitalsShape},
	{golden: "getProjectVitals", request: `{"requestType":"getProjectVitals","userKey":"{{userKey}}","projectToken":"{{projectToken}}"}`,
		response: projectVitalsShape},
	{golden: "getProjectSetupNotificationConfig", request: `{"requestType":"getProjectSetupNotificationConfig","userKey":"{{userKey}}","orgToken":"{{orgToken}}"}`},

	// Writes, each followed by what it changed.
	{golden: "createProduct", request: `{ "requestType" : "createProduct", "userKey": "{{userKey}}", "productName" : "new product name", "orgToken" : "{{orgToken}}" }`,
		response: `{ "productToken": "new product token", "message": "Successfully created product <new product name>" }`,
		after: func(f *specFixture, res result) {
			tok, _ := res.m["productToken"].(string)
			if tok == "" {
				f.t.Fatalf("createProduct: no productToken: %s", res.raw)
			}
			f.set("newProductToken", tok)
		}},
	{golden: "saveProductTag", request: `{ "requestType": "saveProductTag", "userKey": "{{userKey}}", "productToken": "{{productToken}}", "tagKey": "newKey", "tagValue": "newValue3" }`,
		response: `{ "productTagsInfo": { "name": "productA", "token": "productToken", "tags": { "newKey": "newValue" } } }`},
	{golden: "getProductTags-afterSave", request: `{ "requestType": "getProductTags", "userKey": "{{userKey}}", "productToken": "{{productToken}}" }`},
	{golden: "removeProductTag", request: `{ "requestType" : "removeProductTag", "userKey": "{{userKey}}", "productToken" : "{{productToken}}", "tagKey": "newKey", "tagValue": "newValue" }`,
		response: `{ "message": "Successfully removed product tag" }`},
	{golden: "getProductTags-afterRemove", request: `{ "requestType": "getProductTags", "userKey": "{{userKey}}", "productToken": "{{productToken}}" }`},
	{golden: "createProject", request: `{ "requestType" : "createProject", "userKey": "{{userKey}}", "productToken": "{{newProductToken}}", "projectName": "my new project", "projectDescription" : "optional field. Not mandatory" }`,
		response: `{ "projectToken": "new project token here", "message": "Successfully created project my new project" }`,
		after: func(f *specFixture, res result) {
			tok, _ := res.m["projectToken"].(string)
			if tok == "" {
				f.t.Fatalf("createProject: no projectToken: %s", res.raw)
			}
			f.set("newProjectToken", tok)
		}},
	{golden: "saveProjectTag", request: `{ "requestType" : "saveProjectTag", "userKey": "{{userKey}}", "projectToken" : "{{newProjectToken}}", "tagKey":"key1", "tagValue":"value1" }`,
		response: `{ "projectTags": { "name": "My Project 1", "token": "project_token_1", "tags": { "key1": "value1" } } }`},
	{golden: "getProductProjectTags-afterSave", request: `{ "requestType" : "getProductProjectTags", "userKey": "{{userKey}}", "productToken" : "{{newProductToken}}" }`},
	{golden: "removeProjectTag", request: `{ "requestType" : "removeProjectTag", "userKey": "{{userKey}}", "projectToken" : "{{newProjectToken}}", "tagKey":"key1", "tagValue":"value1" }`,
		response: `{ "message": "Successfully removed project tag" }`},
	{golden: "setProjectSetupNotificationConfig", request: `{ "requestType" : "setProjectSetupNotificationConfig", "orgToken" : "{{orgToken}}", "userKey" : "{{userKey}}", "action": "CUSTOM", "projectTagKeyRegex" : "^[0-9]*$", "projectTagValueRegex" : "^(ProjectTagValue)" }`,
		response: `{ "message": "Successfully changed project setup completion notification configuration" }`},
	{golden: "getProjectSetupNotificationConfig-custom", request: `{"requestType":"getProjectSetupNotificationConfig","userKey":"{{userKey}}","orgToken":"{{orgToken}}"}`},
	{golden: "deleteProject", request: `{ "requestType" : "deleteProject", "userKey": "{{userKey}}", "productToken" : "{{newProductToken}}", "projectToken": "{{newProjectToken}}" }`,
		response: `{ "message": "Successfully deleted project <project name>" }`},
	{golden: "deleteProduct", request: `{ "requestType" : "deleteProduct", "userKey": "{{userKey}}", "orgToken" : "{{orgToken}}", "productToken" :"{{newProductToken}}" }`,
		response: `{ "message": "Successfully deleted product <product name>" }`},
	{golden: "getAllProducts-afterDelete", request: `{"requestType":"getAllProducts","userKey":"{{userKey}}","orgToken":"{{orgToken}}"}`},
}

const projectVitalsShape = `{"projectVitals":[{"pluginName":"","id":1,"name":"","token":"","uploadedBy":"","requestToken":"","creationDate":"","lastUpdatedDate":"","productName":"","lastScanComment":""}]}`

// TestSpecExamples replays every request example of the spec, on each of the
// five API paths, and compares each response with its golden file and its
// shape with the spec's example.
func TestSpecExamples(t *testing.T) {
	for _, path := range apiPaths {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			f := newSpecFixture(t)
			for _, c := range specCases {
				body := f.expand(c.request)
				res := f.doAt(path, body)
				if res.code() != 0 {
					t.Fatalf("%s: error response: %s", c.golden, res.raw)
				}
				checkSuccessBody(t, res.raw)
				if c.after != nil {
					c.after(f, res)
				}
				golden(t, &f.norm, c.golden, res.raw)
				if c.response != "" {
					var want, got any
					if err := json.Unmarshal([]byte(c.response), &want); err != nil {
						t.Fatalf("%s: the spec example in the test is not JSON: %v", c.golden, err)
					}
					_ = json.Unmarshal(res.raw, &got)
					for _, d := range shapeCovers(shape(want), shape(got), c.golden) {
						t.Errorf("shape differs from the spec's example: %s", d)
					}
				}
			}
		})
		if *update {
			break // one path writes the files; the others must match them
		}
	}
}

// TestSpecMessagesNameTheThing checks the message texts with the real names
// put in, beyond what the golden files show for the fixture's names.
func TestSpecMessagesNameTheThing(t *testing.T) {
	r := newRig(t)
	key := r.Admin.UserKey
	name := `Ünïcode & <product> "quoted"`
	res := r.mustOK(req("createProduct", key, "orgToken", r.Admin.OrgToken, "productName", name))
	if got, want := res.m["message"], "Successfully created product "+name; got != want {
		t.Errorf("createProduct message = %q, want %q", got, want)
	}
	pt := res.m["productToken"].(string)
	res = r.mustOK(req("createProject", key, "productToken", pt, "projectName", "p "+name))
	if got, want := res.m["message"], "Successfully created project p "+name; got != want {
		t.Errorf("createProject message = %q, want %q", got, want)
	}
	res = r.mustOK(req("deleteProject", key, "projectToken", res.m["projectToken"].(string)))
	if got, want := res.m["message"], "Successfully deleted project p "+name; got != want {
		t.Errorf("deleteProject message = %q, want %q", got, want)
	}
	res = r.mustOK(req("deleteProduct", key, "productToken", pt))
	if got, want := res.m["message"], "Successfully deleted product "+name; got != want {
		t.Errorf("deleteProduct message = %q, want %q", got, want)
	}
	if strings.Contains(string(res.raw), `\u003c`) {
		t.Errorf("HTML characters escaped in the body: %s", res.raw)
	}
}
