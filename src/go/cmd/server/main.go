// Command server serves the greeting and the files of its kodata folder over HTTP.
//
// With -once it prints the greeting and kodata/message.txt and exits (used by tests).
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"

	"example.com/app/internal/greeting"
)

func main() {
	once := flag.Bool("once", false, "print the greeting and the kodata message, then exit")
	addr := flag.String("addr", ":8080", "address to listen on")
	flag.Parse()

	dataDir := os.Getenv("KO_DATA_PATH")
	if dataDir == "" {
		dataDir = "kodata"
	}
	message, err := os.ReadFile(filepath.Join(dataDir, "message.txt"))
	if err != nil {
		log.Fatalf("reading kodata: %v", err)
	}
	fmt.Println(greeting.Hello("server"))
	fmt.Printf("kodata: %s", message)
	if *once {
		return
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, greeting.Hello("server"))
	})
	http.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.Dir(dataDir))))
	log.Fatal(http.ListenAndServe(*addr, nil))
}
