package api

import (
	"container/list"
	"strings"
	"sync"
)

// responseCache keeps encoded inventory reads (getProjectHierarchy,
// getProjectInventory) of recently read projects. Libraries are immutable
// once stored and a project's inventory changes only when the pipeline
// stores an update, which also moves the project's updated_at; so a response
// keyed by the project's id and updated_at, read fresh from the database on
// every call after the permission checks, is valid for as long as anyone
// can ask for that key, on one server or many. In-house filtering adds the
// organization's patterns to the key. Least recently used entries go first
// once the total size passes the limit.
type responseCache struct {
	mu    sync.Mutex
	max   int
	size  int
	order *list.List // front: most recently used
	items map[cacheKey]*list.Element
}

type cacheKey struct {
	requestType string
	projectID   int64
	updatedAt   int64 // unix milliseconds
	inHouse     string
}

type cacheEntry struct {
	key  cacheKey
	body []byte
}

// DefaultCacheBytes bounds the response cache.
const DefaultCacheBytes = 64 << 20

func newResponseCache(maxBytes int) *responseCache {
	return &responseCache{max: maxBytes, order: list.New(), items: map[cacheKey]*list.Element{}}
}

func inHouseKey(includeInHouse bool, patterns []string) string {
	if includeInHouse {
		return ""
	}
	return "exclude:" + strings.Join(patterns, "\x00")
}

func (c *responseCache) get(k cacheKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheEntry).body, true
}

func (c *responseCache) put(k cacheKey, body []byte) {
	if len(body) > c.max/4 {
		return // one response may not push out most of the others
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.items[k] = c.order.PushFront(&cacheEntry{key: k, body: body})
	c.size += len(body)
	for c.size > c.max {
		last := c.order.Back()
		ent := last.Value.(*cacheEntry)
		c.order.Remove(last)
		delete(c.items, ent.key)
		c.size -= len(ent.body)
	}
}
